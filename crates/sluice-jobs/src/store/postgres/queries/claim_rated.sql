-- A claim under a shared rate, in one call (see migration 11).
SELECT * FROM sluice_claim_rated($1, $2, $3, $4, $5, $6, $7, $8)

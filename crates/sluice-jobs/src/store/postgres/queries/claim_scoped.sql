-- A claim under a rate per kind or per key, in one call (see migration 11).
SELECT ids, capped FROM sluice_claim_scoped($1, $2, $3, $4, $5, $6, $7, $8)

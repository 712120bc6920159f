-- Renews worker ?3's leases on jobs ?2 (a JSON array) until ?1; says which were asked to stop.
UPDATE sluice_jobs SET lease_until = ?1
WHERE id IN (SELECT value FROM json_each(?2)) AND state = 'running' AND worker = ?3
RETURNING id, cancel_requested

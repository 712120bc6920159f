-- Renews worker $3's leases on jobs $2 until $1; says which were asked to stop.
UPDATE sluice_jobs SET lease_until = $1
WHERE id = ANY($2) AND state = 'running' AND worker = $3
RETURNING id, cancel_requested

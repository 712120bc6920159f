-- Whether queue $1 has an available job whose window is used up, under a rate of $3 starts
-- counted for the queue, per kind or per partition key ($2: 'queue', 'kind', 'partition_key'),
-- in the newest window a claim counted in.
SELECT EXISTS (
    SELECT 1 FROM sluice_rate_scopes AS r
    JOIN sluice_rates AS w ON w.queue = r.queue AND w.window_start = r.window_start
    WHERE r.queue = $1 AND r.used >= $3
        AND EXISTS (SELECT 1 FROM sluice_jobs AS j WHERE j.queue = $1 AND j.state = 'available'
            AND CASE $2 WHEN 'kind' THEN j.kind WHEN 'partition_key' THEN j.partition_key
                ELSE '' END = r.scope))

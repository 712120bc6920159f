-- Jobs per queue and state, by queue, with the earliest due time (milliseconds) of each queue's
-- available jobs. The counts read only the listing index (queue, state, id), not the table;
-- the due times only the index of available jobs.
SELECT c.queue, c.state, c.n, CASE WHEN c.state = 'available' THEN (
    SELECT min(run_at) FROM sluice_jobs a WHERE a.queue = c.queue AND a.state = 'available') END
FROM (SELECT queue, state, count(*) AS n FROM sluice_jobs GROUP BY queue, state) AS c
ORDER BY c.queue

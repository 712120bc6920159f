-- Jobs per queue and state, by queue.
SELECT queue, state, count(*) FROM sluice_jobs GROUP BY queue, state ORDER BY queue

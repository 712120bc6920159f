-- Jobs per queue and state, by queue, with each state's earliest due time in milliseconds.
SELECT queue, state, count(*), min(run_at) FROM sluice_jobs GROUP BY queue, state ORDER BY queue

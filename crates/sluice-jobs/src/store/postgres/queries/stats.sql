-- Jobs per queue and state, by queue, with each state's earliest due time in milliseconds.
SELECT queue, state, count(*), floor(extract(epoch FROM min(run_at)) * 1000)::bigint
FROM sluice_jobs GROUP BY queue, state ORDER BY queue

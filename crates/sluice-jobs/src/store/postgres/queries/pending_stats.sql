-- Jobs per queue of the states that can still run, each state read from its own partial index
-- (so never the finished jobs kept, however many), with the earliest due time in milliseconds
-- of each queue's available jobs. Blocked workflow steps count: they run once unblocked. A
-- running job always holds a lease.
SELECT queue, 'available', count(*), floor(extract(epoch FROM min(run_at)) * 1000)::bigint
FROM sluice_jobs WHERE state = 'available' GROUP BY queue
UNION ALL
SELECT queue, state, count(*), NULL FROM sluice_jobs
WHERE state IN ('scheduled', 'retryable') GROUP BY queue, state
UNION ALL
SELECT queue, 'blocked', count(*), NULL FROM sluice_jobs WHERE state = 'blocked' GROUP BY queue
UNION ALL
SELECT queue, state, count(*), NULL FROM sluice_jobs
WHERE lease_until IS NOT NULL AND state = 'running' GROUP BY queue, state
ORDER BY 1

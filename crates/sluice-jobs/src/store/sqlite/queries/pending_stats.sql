-- Jobs per queue of the states that can still run, each state read from its own partial index
-- (so never the finished jobs kept, however many), with the earliest due time (milliseconds)
-- of each queue's available jobs. Blocked workflow steps count: they run once unblocked.
SELECT queue, 'available', count(*), min(run_at)
FROM sluice_jobs WHERE state = 'available' GROUP BY queue
UNION ALL
SELECT queue, state, count(*), NULL FROM sluice_jobs
WHERE state IN ('scheduled', 'retryable') GROUP BY queue, state
UNION ALL
SELECT queue, 'blocked', count(*), NULL FROM sluice_jobs WHERE state = 'blocked' GROUP BY queue
UNION ALL
SELECT queue, state, count(*), NULL FROM sluice_jobs WHERE state = 'running' GROUP BY queue, state
ORDER BY 1

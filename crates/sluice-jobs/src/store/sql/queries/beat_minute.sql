-- Records worker $3's counts of queue $1 in minute $2 (milliseconds): succeeded $4, failed $5,
-- waits $6 (a JSON array of bucket counts), replacing what it reported before.
INSERT INTO sluice_minutes (queue, minute, worker, succeeded, failed, waits)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (minute, queue, worker) DO UPDATE SET succeeded = EXCLUDED.succeeded,
    failed = EXCLUDED.failed, waits = EXCLUDED.waits

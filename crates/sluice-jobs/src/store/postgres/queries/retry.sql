-- Makes jobs available now ($1) with an attempt left: those of ids $2 if given, every dead one
-- (of queue $4, if given) if $3. A job whose unique key another pending job holds stays as it
-- is. Returns their queues, to wake.
UPDATE sluice_jobs AS j SET state = 'available', run_at = $1, finished_at = NULL,
    cancel_requested = FALSE, max_attempts = greatest(max_attempts, attempt + 1)
WHERE state IN ('dead', 'cancelled', 'retryable', 'scheduled')
    AND ($2::bigint[] IS NULL OR id = ANY($2))
    AND (NOT $3 OR (state = 'dead' AND ($4::text IS NULL OR queue = $4)))
    AND (unique_key IS NULL OR NOT EXISTS (SELECT 1 FROM sluice_jobs p
        WHERE p.unique_key = j.unique_key AND p.id <> j.id
        AND p.state IN ('scheduled', 'available', 'running', 'retryable')))
RETURNING queue

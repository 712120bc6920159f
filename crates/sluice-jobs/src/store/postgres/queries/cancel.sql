-- Cancels jobs $1: waiting ones at once (at $2), running ones by asking their worker. The
-- workflow steps waiting on jobs cancelled are settled, and their batches counted, in the same
-- statement ($3 is now as text, $4 prefixes the notifications of the queues it wakes).
WITH waiting AS (
    UPDATE sluice_jobs SET state = 'cancelled', finished_at = $2
    WHERE id = ANY($1) AND state IN ('blocked', 'scheduled', 'available', 'retryable')
    RETURNING id, dependents, batch_id),
running AS (
    UPDATE sluice_jobs SET cancel_requested = TRUE
    WHERE id = ANY($1) AND state = 'running' RETURNING id),
kids AS (
    SELECT d FROM waiting, unnest(waiting.dependents) AS d),
settled AS (
    SELECT sluice_settle(array_agg(d), array_fill(TRUE, ARRAY[count(*)::integer]), $2, $3, $4)
    FROM kids HAVING count(*) > 0),
counted AS (
    SELECT sluice_batch_ended(array_agg(batch_id), array_fill(FALSE, ARRAY[count(*)::integer]),
        $2, $4)
    FROM waiting WHERE batch_id IS NOT NULL HAVING count(*) > 0)
SELECT id, 'cancelled' FROM waiting, (SELECT count(*) FROM settled) AS s,
    (SELECT count(*) FROM counted) AS c
UNION ALL SELECT id, 'requested' FROM running

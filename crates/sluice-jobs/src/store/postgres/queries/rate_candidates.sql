-- Up to $4 available jobs of queue $1 in claim order, locked, for a claim under a rate per kind
-- or per key: none of kinds $2, none of partition keys $3 (windows used up, partitions full);
-- nothing while the queue is paused.
SELECT id, kind, partition_key FROM sluice_jobs
WHERE queue = $1 AND state = 'available' AND NOT (kind = ANY($2))
    AND (partition_key IS NULL OR NOT (partition_key = ANY($3)))
    AND NOT EXISTS (SELECT 1 FROM sluice_paused WHERE queue = $1)
ORDER BY priority DESC, run_at, id
LIMIT $4
FOR UPDATE SKIP LOCKED

-- Up to ?4 available jobs of queue ?1 in claim order, for a claim under a rate per kind or per
-- key: none of the kinds of ?2 nor the partition keys of ?3 (JSON arrays: windows used up,
-- partitions full).
SELECT id, kind, partition_key FROM sluice_jobs
WHERE queue = ?1 AND state = 'available'
    AND kind NOT IN (SELECT value FROM json_each(?2))
    AND (partition_key IS NULL OR partition_key NOT IN (SELECT value FROM json_each(?3)))
ORDER BY priority DESC, run_at, id
LIMIT ?4

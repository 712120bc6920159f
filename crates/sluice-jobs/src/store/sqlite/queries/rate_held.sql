-- Whether queue ?1 has an available job whose window is used up: of the kinds (?2 = 'kind'),
-- the partition keys (?2 = 'partition_key') or the queue ('' under ?2 = 'queue') of ?3, a JSON
-- array.
SELECT EXISTS (SELECT 1 FROM sluice_jobs WHERE queue = ?1 AND state = 'available'
    AND CASE ?2 WHEN 'kind' THEN kind WHEN 'partition_key' THEN partition_key ELSE '' END
        IN (SELECT value FROM json_each(?3)))

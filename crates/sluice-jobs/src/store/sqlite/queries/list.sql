-- Jobs matching every filter given (NULL for any), newest first: queue ?1, state ?2, kind ?3,
-- unique key ?4, partition key ?5, a value ?7 (JSON) at path ?6 of the args, ids below ?8.
SELECT * FROM sluice_jobs
WHERE (?1 IS NULL OR queue = ?1) AND (?2 IS NULL OR state = ?2) AND (?3 IS NULL OR kind = ?3)
    AND (?4 IS NULL OR unique_key = ?4) AND (?5 IS NULL OR partition_key = ?5)
    AND (?6 IS NULL OR (json_type(args, ?6) IS json_type(?7, '$')
        AND json_extract(args, ?6) IS json_extract(?7, '$')))
    AND (?8 IS NULL OR id < ?8)
ORDER BY id DESC LIMIT ?9

-- Jobs matching every filter given (NULL for any), newest first: queue $1, state $2, kind $3,
-- unique key $4, partition key $5, a value $7 (JSON) at path $6 (a JSON array of keys) of the
-- args, ids below $8.
SELECT * FROM sluice_jobs
WHERE ($1::text IS NULL OR queue = $1) AND ($2::text IS NULL OR state = $2)
    AND ($3::text IS NULL OR kind = $3)
    AND ($4::text IS NULL OR unique_key = $4) AND ($5::text IS NULL OR partition_key = $5)
    AND ($6::text IS NULL
        OR args #> ARRAY(SELECT jsonb_array_elements_text($6::jsonb)) = $7::text::jsonb)
    AND ($8::bigint IS NULL OR id < $8)
ORDER BY id DESC LIMIT $9

-- Wakes the workers waiting on each queue ($2), of this schema ($1 is `SCHEMA:`), when the
-- enqueuing transaction commits.
SELECT pg_notify('sluice_jobs', $1 || q) FROM unnest($2::text[]) AS q

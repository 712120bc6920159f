-- The succeeded job that still holds unique key $1 at $2 (it succeeded less than its
-- `unique_for` ago), if any.
SELECT id FROM sluice_jobs
WHERE unique_key = $1 AND unique_for_ms IS NOT NULL AND state = 'succeeded'
    AND finished_at + unique_for_ms * interval '1 millisecond' > $2
ORDER BY finished_at DESC LIMIT 1

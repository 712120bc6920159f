-- How many jobs run per partition key, in every queue.
SELECT partition_key, count(*) FROM sluice_jobs
WHERE state = 'running' AND partition_key IS NOT NULL
GROUP BY partition_key

-- Asks the worker of job ?1, if it is running, to stop it.
UPDATE sluice_jobs SET cancel_requested = 1 WHERE id = ?1 AND state = 'running'

-- Releases the lock of vacuum_lock.sql.
SELECT pg_advisory_unlock(hashtext('sluice vacuum ' || current_schema()))

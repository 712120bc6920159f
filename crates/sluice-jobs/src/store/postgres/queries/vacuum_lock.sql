-- The session lock one worker holds while it vacuums this schema's jobs table.
SELECT pg_try_advisory_lock(hashtext('sluice vacuum ' || current_schema()))

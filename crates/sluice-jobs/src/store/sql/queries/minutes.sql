-- The counts per queue, minute and worker from minute $1 (milliseconds) on.
SELECT queue, minute, succeeded, failed, waits FROM sluice_minutes WHERE minute >= $1

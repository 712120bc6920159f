-- The paused queues and since when (milliseconds).
SELECT queue, since FROM sluice_paused ORDER BY queue

-- Forgets workers that last reported before $1 (milliseconds).
DELETE FROM sluice_workers WHERE beat_at < $1

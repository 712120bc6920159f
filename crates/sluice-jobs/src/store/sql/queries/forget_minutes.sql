-- Forgets the minutes that began before $1 (milliseconds).
DELETE FROM sluice_minutes WHERE minute < $1

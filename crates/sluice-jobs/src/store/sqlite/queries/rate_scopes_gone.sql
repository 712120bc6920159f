-- Deletes the windows of queue ?1's kinds or keys that started before ?2 (ms).
DELETE FROM sluice_rate_scopes WHERE queue = ?1 AND window_start < ?2

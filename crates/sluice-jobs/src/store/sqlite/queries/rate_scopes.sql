-- The starts so far of each kind or key of queue ?1 in the window that starts at ?2 (ms).
SELECT scope, used FROM sluice_rate_scopes WHERE queue = ?1 AND window_start = ?2

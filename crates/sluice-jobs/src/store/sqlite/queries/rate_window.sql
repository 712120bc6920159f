-- The window a claim of queue ?1 counts in: the one its time ?2 falls in, or a newer one another
-- claim counted in already (whose time was read later), so that a window never returns.
SELECT max(?2, coalesce((SELECT max(window_start) FROM sluice_rate_scopes WHERE queue = ?1), ?2))

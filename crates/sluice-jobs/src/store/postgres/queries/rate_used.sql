-- Counts $2 more jobs started in queue $1's window.
UPDATE sluice_rates SET used = used + $2 WHERE queue = $1

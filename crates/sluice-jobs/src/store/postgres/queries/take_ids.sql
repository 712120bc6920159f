-- Takes $1 job ids from the jobs table's sequence, in increasing order.
SELECT nextval(pg_get_serial_sequence('sluice_jobs', 'id')) AS id FROM generate_series(1, $1)
ORDER BY id

-- Whether the jobs table holds enough dead rows to vacuum: 20,000, or a twentieth of the live
-- ones if more. Every claim and every end leaves a dead row behind, and the index claims read
-- keeps an entry for each until a vacuum: without one, a backlog of 1,000,000 jobs is worked
-- at half the speed by its end, and autovacuum (once a minute at most, after a fifth of the
-- table died) comes too late for a burst.
SELECT coalesce((SELECT n_dead_tup >= greatest(20000, n_live_tup / 20)
    FROM pg_stat_user_tables WHERE relid = 'sluice_jobs'::regclass), false)

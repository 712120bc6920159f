"""Fills a job store with JOBS jobs for bench/console.sh, straight in SQL (the schema must exist:
`sluice jobs migrate`): 94% succeeded, 2% dead (with an error), 1% each available, scheduled,
retryable and cancelled; 10 kinds, 5 queues, a unique key on every 10th job, a partition key on
every 3rd, args {"user": {"id": N % 50000}, "n": N}.

    python3 bench/console_seed.py sqlite PATH JOBS
    python3 bench/console_seed.py postgres URL JOBS     # URL as psql takes it, with ?options=
"""
import sqlite3
import subprocess
import sys

# The state of job i, by i % 100.
STATE = """CASE WHEN i % 100 < 2 THEN 'dead' WHEN i % 100 = 2 THEN 'available'
  WHEN i % 100 = 3 THEN 'scheduled' WHEN i % 100 = 4 THEN 'retryable'
  WHEN i % 100 = 5 THEN 'cancelled' ELSE 'succeeded' END"""


def sqlite(path, jobs):
    db = sqlite3.connect(path)
    now = "CAST(strftime('%s','now') AS INTEGER) * 1000"
    db.execute(f"""
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {jobs})
        INSERT INTO sluice_jobs (queue, kind, args, priority, state, attempt, max_attempts, run_at,
            errors, unique_key, partition_key, created_at, finished_at)
        SELECT 'q' || (i % 5), 'k' || (i % 10),
            json_object('user', json_object('id', i % 50000), 'n', i), 0, s, 1, 25,
            {now} - ({jobs} - i) * 10 + CASE WHEN s = 'scheduled' THEN 86400000 ELSE 0 END,
            CASE WHEN s IN ('dead', 'retryable') THEN
                json_array(json_object('attempt', 1, 'at', '2030-01-01T00:00:00Z', 'error', 'boom'))
                ELSE '[]' END,
            CASE WHEN i % 10 = 0 THEN 'u' || i END,
            CASE WHEN i % 3 = 0 THEN 'p' || (i % 100) END,
            {now} - ({jobs} - i) * 10,
            CASE WHEN s IN ('succeeded', 'dead', 'cancelled') THEN {now} - ({jobs} - i) * 10 END
        FROM (SELECT i, {STATE} AS s FROM n)""")
    db.commit()
    db.execute("ANALYZE")
    db.commit()


def postgres(url, jobs):
    sql = f"""
        INSERT INTO sluice_jobs (queue, kind, args, priority, state, attempt, max_attempts, run_at,
            errors, unique_key, partition_key, created_at, finished_at)
        SELECT 'q' || (i % 5), 'k' || (i % 10),
            jsonb_build_object('user', jsonb_build_object('id', i % 50000), 'n', i), 0, s, 1, 25,
            now() - ({jobs} - i) * interval '10 ms'
                + CASE WHEN s = 'scheduled' THEN interval '1 day' ELSE interval '0' END,
            CASE WHEN s IN ('dead', 'retryable') THEN
                jsonb_build_array(jsonb_build_object('attempt', 1, 'at', '2030-01-01T00:00:00Z', 'error', 'boom'))
                ELSE '[]'::jsonb END,
            CASE WHEN i % 10 = 0 THEN 'u' || i END,
            CASE WHEN i % 3 = 0 THEN 'p' || (i % 100) END,
            now() - ({jobs} - i) * interval '10 ms',
            CASE WHEN s IN ('succeeded', 'dead', 'cancelled') THEN now() - ({jobs} - i) * interval '10 ms' END
        FROM (SELECT i, {STATE} AS s FROM generate_series(1, {jobs}) AS i) AS g;
        ANALYZE sluice_jobs;"""
    subprocess.run(["psql", url, "-qv", "ON_ERROR_STOP=1", "-c", sql], check=True)


if __name__ == "__main__":
    kind, where, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    {"sqlite": sqlite, "postgres": postgres}[kind](where, count)

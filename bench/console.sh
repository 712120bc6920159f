#!/usr/bin/env bash
# The console with a million jobs in the store: every API call the pages make, and the page
# itself, timed against `sluice ui` on SQLite and on PostgreSQL (a schema of its own). The store
# is filled straight in SQL by bench/console_seed.py (94% succeeded, 2% dead, 1% each available,
# scheduled, retryable, cancelled). Each call is made ROUNDS times; the median is reported
# against the target (under 200 ms), with "met" or "MISSED".
#
#   bench/console.sh                          # JOBS=1000000 ROUNDS=7, both stores
#   STORES=sqlite JOBS=100000 bench/console.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
jobs=${JOBS:-1000000}
rounds=${ROUNDS:-7}
stores=${STORES:-sqlite postgres}
database=${DATABASE:-postgres://postgres@127.0.0.1:5432/test}
out=$root/bench/out/console
mkdir -p "$out"
cargo build --release -q -p sluice
sluice=${SLUICE:-$root/target/release/sluice}
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# The calls the pages make: the overview's two, the jobs list unfiltered and by each filter,
# its next pages, one job, schedules, workers, and the page.
half=$((jobs / 2)); some=$((jobs * 42 / 100)); keyed=$((jobs * 42 / 1000 * 10))
calls=(
  "/api/v1/queues"
  "/api/v1/throughput?window=hour"
  "/api/v1/throughput?window=day"
  "/api/v1/jobs?limit=50"
  "/api/v1/jobs?limit=50&before=$half"
  "/api/v1/jobs?state=dead&limit=50"
  "/api/v1/jobs?state=available&queue=q3&limit=50"
  "/api/v1/jobs?state=scheduled&limit=50"
  "/api/v1/jobs?state=dead&before=$((jobs / 50))&limit=50"
  "/api/v1/jobs?kind=k7&limit=50"
  "/api/v1/jobs?unique_key=u$keyed&limit=50"
  "/api/v1/jobs?partition_key=p42&limit=50"
  "/api/v1/jobs?args=user.id%3D4242&limit=50"
  "/api/v1/jobs/$some"
  "/api/v1/schedules"
  "/api/v1/workers"
  "/"
)

status=0
for store in $stores; do
  case $store in
    sqlite)
      rm -f "$out"/jobs.db*
      url="sqlite://$out/jobs.db"
      "$sluice" jobs --store "$url" migrate >/dev/null
      seed=(sqlite "$out/jobs.db")
      ;;
    postgres)
      psql "$database" -qc "DROP SCHEMA IF EXISTS sluice_console_bench CASCADE"
      url="$database?schema=sluice_console_bench"
      "$sluice" jobs --store "$url" migrate >/dev/null
      seed=(postgres "$database?options=-csearch_path%3Dsluice_console_bench")
      ;;
    *) echo "unknown store $store; expected sqlite or postgres" >&2; exit 2 ;;
  esac
  started=$(date +%s)
  python3 bench/console_seed.py "${seed[@]}" "$jobs"
  echo "$store: $jobs jobs written in $(( $(date +%s) - started )) s"
  port=$(free_port)
  "$sluice" ui --store "$url" --addr "127.0.0.1:$port" >"$out/ui-$store.log" 2>&1 &
  ui=$!
  for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.2; done
  python3 - "$store" "http://127.0.0.1:$port" "$rounds" "${calls[@]}" <<'PY' || status=1
import statistics, sys, time, urllib.request
store, base, rounds, calls = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
target_ms = 200
missed = 0
print(f"{'call':<52} {'median ms':>10} {'max ms':>8}  status")
# The first overview counts every job; later ones are answered from a count at most a second
# old while a fresh one is taken (its max is that first count).
for call in calls:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        with urllib.request.urlopen(base + call) as answer:
            answer.read()
            code = answer.status
        times.append((time.perf_counter() - start) * 1000)
    median = statistics.median(times)
    verdict = "met" if median < target_ms and code == 200 else "MISSED"
    missed += verdict == "MISSED"
    print(f"{call:<52} {median:>10.1f} {max(times):>8.1f}  {verdict}")
print(f"{store}: {len(calls) - missed} of {len(calls)} calls under {target_ms} ms (median of {rounds}): {'met' if not missed else 'MISSED'}")
sys.exit(1 if missed else 0)
PY
  kill "$ui"
  wait "$ui" 2>/dev/null || true
  if [ "$store" = postgres ]; then psql "$database" -qc "DROP SCHEMA sluice_console_bench CASCADE"; fi
done
exit $status

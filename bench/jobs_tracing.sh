#!/usr/bin/env bash
# What tracing costs jobs: JOBS jobs whose `http` handler calls a Sluice pipeline (an HTTP
# source into a blackhole), enqueued from a file and worked by `sluice worker` on SQLite with
# 50 slots, untraced, traced at 1% and traced at 100% (spans over OTLP/HTTP to
# bench/otlp_sink.py, which counts them), side by side in each round. Prints jobs/s of the
# worker and its CPU time per variant, and the cost at 1% against the target (under 3%). The
# worker's wall time includes its idle check (every 200 ms), so jobs/s moves in steps; the CPU
# time is the finer measure.
#
#   bench/jobs_tracing.sh             # JOBS=20000 ROUNDS=3
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
jobs=${JOBS:-20000}
rounds=${ROUNDS:-3}
out=$root/bench/out/jobs_tracing
mkdir -p "$out"
[ -x /usr/bin/time ] || { echo "/usr/bin/time is needed: apt-get install -y time" >&2; exit 1; }

cargo build --release -q -p sluice
sluice=${SLUICE:-$root/target/release/sluice}
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

target=$(free_port)
cat >"$out/target.yaml" <<EOF
sources:
  calls: { type: http, address: "127.0.0.1:$target", path: /jobs }
sinks:
  drop: { type: blackhole, inputs: [calls] }
EOF
cat >"$out/worker.yaml" <<EOF
queues:
  default: { concurrency: 50 }
kinds:
  call:
    handler: { type: http, url: "http://127.0.0.1:$target/jobs" }
EOF
python3 - "$jobs" "$out/jobs.jsonl" <<'PY'
import json, sys
with open(sys.argv[2], "w") as f:
    for n in range(int(sys.argv[1])):
        f.write(json.dumps({"kind": "call", "args": {"n": n}}) + "\n")
PY

collector=$(free_port)
python3 "$root/bench/otlp_sink.py" "$collector" "$out/otlp_sink.txt" &
sink=$!
"$sluice" run --quiet "$out/target.yaml" &
server=$!
trap 'kill $sink $server 2>/dev/null || true' EXIT
sleep 1

run() { # variant [VAR=value...] -> a log line
  local variant=$1
  shift
  local store="sqlite://$out/jobs.db"
  rm -f "$out/jobs.db" "$out/jobs.db-wal" "$out/jobs.db-shm"
  "$sluice" jobs --store "$store" migrate >/dev/null
  env "$@" "$sluice" jobs --store "$store" enqueue --file "$out/jobs.jsonl" >/dev/null 2>"$out/enqueue.err"
  /usr/bin/time -f "%e %U %S" -o "$out/time.txt" env "$@" RUST_LOG=warn,sluice::traces=info \
    "$sluice" worker --store "$store" --config "$out/worker.yaml" --exit-when-idle 2>"$out/worker.err"
  read -r seconds user sys <"$out/time.txt"
  local sent
  sent=$(grep -o 'traces sent.*' "$out/worker.err" | sed 's/\x1b\[[0-9;]*m//g; s/traces sent //' || true)
  echo "variant=$variant jobs=$jobs seconds=$seconds items_per_s=$(python3 -c "print(round($jobs / $seconds))") cpu_s=$(python3 -c "print(round($user + $sys, 2))") ${sent:-}"
}

otlp="OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:$collector"
log=$out/jobs_tracing.log
: >"$log"
for _ in $(seq "$rounds"); do
  run untraced OTEL_SDK_DISABLED=true | tee -a "$log"
  run traced_1pct "$otlp" OTEL_TRACES_SAMPLER=parentbased_traceidratio OTEL_TRACES_SAMPLER_ARG=0.01 | tee -a "$log"
  run traced_100pct "$otlp" | tee -a "$log"
done
kill $sink
wait $sink || true
echo "spans received by the collector: $(cat "$out/otlp_sink.txt")"

python3 "$root/bench/summarize.py" --costs "traced_1pct=traced_1pct/untraced:3" \
  "traced_100pct=traced_100pct/untraced" <"$log"

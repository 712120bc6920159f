#!/usr/bin/env bash
# JSON ETL: EVENTS JSON lines (web-service logs made by bench/events.yaml) through parse ->
# filter -> jq transform -> serialize to a file (bench/json_etl.yaml), with `workers: 1` and
# `workers: 2`, with `workers: 1` traced at a 1% sample (spans sent over OTLP/HTTP to
# bench/otlp_sink.py, which counts them), and with `workers: 1` watched by `sluice tap` on the
# jq stage from the start (TAP_RATE events a second, default 100, through the admin server).
# Prints events/s, peak RSS and CPU-seconds (/usr/bin/time) for each, the cost of tracing and of
# a tap in events/s and in CPU, the same for twice the input (memory must not grow with it), and
# for 3,000 events of 200 KB each (the memory limit must hold them), then the targets met or
# MISSED: 2,500,000 events/s, a peak RSS of 32 MiB (64 MiB for the large events), and a second
# worker never slower than one.
#
#   bench/json_etl.sh                 # EVENTS=2000000 ROUNDS=3
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
events=${EVENTS:-2000000}
rounds=${ROUNDS:-3}
out=$root/bench/out
mkdir -p "$out"
[ -x /usr/bin/time ] || { echo "/usr/bin/time is needed: apt-get install -y time" >&2; exit 1; }

cargo build --release -q -p sluice
sluice=${SLUICE:-$root/target/release/sluice}
input=$out/events-$events.jsonl
[ -f "$input" ] || EVENTS=$events EVENTS_OUTPUT=$input "$sluice" run --quiet bench/events.yaml

run() { # workers input [VAR=value...] -> "seconds rss_kib cpu_seconds"
  local workers=$1 input=$2
  shift 2
  /usr/bin/time -f "%e %M %U %S" -o "$out/time.txt" env JSON_ETL_WORKERS="$workers" JSON_ETL_INPUT="$input" \
    JSON_ETL_OUTPUT="$out/json_etl.jsonl" "$@" "$sluice" run --quiet bench/json_etl.yaml 2>"$out/run.err"
  awk '{printf "%s %s %.2f\n", $1, $2, $3 + $4}' "$out/time.txt"
}

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# A run with `sluice tap` attached to the jq stage: the tap retries every 10 ms until the admin
# server answers, so it is attached before the first events; what it prints is appended to
# tap.jsonl.
: >"$out/tap.jsonl"
tapped() { # workers input -> "seconds rss_kib cpu_seconds"
  local admin=127.0.0.1:$(free_port)
  (until SLUICE_ADMIN_TOKEN=bench "$sluice" tap "$admin" enrich --rate "${TAP_RATE:-100}" >>"$out/tap.jsonl" 2>/dev/null; do
    sleep 0.01
  done) &
  local tap=$!
  run "$1" "$2" SLUICE_ADMIN_TOKEN=bench SLUICE_ADMIN_ADDR="$admin"
  kill $tap 2>/dev/null || true
  wait $tap 2>/dev/null || true
}

# The collector of the traced runs.
port=$(free_port)
python3 "$root/bench/otlp_sink.py" "$port" "$out/otlp_sink.txt" &
sink=$!
trap 'kill $sink 2>/dev/null || true' EXIT
traced=(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$port" OTEL_TRACES_SAMPLER=parentbased_traceidratio OTEL_TRACES_SAMPLER_ARG=0.01 RUST_LOG=warn,sluice::traces=info)

log=$out/json_etl.log
: >"$log"
for round in $(seq "$rounds"); do
  for variant in workers_1 workers_2 workers_1_traced_1pct workers_1_tapped; do
    case $variant in
      workers_1) read -r seconds rss cpu < <(run 1 "$input") ;;
      workers_2) read -r seconds rss cpu < <(run 2 "$input") ;;
      workers_1_traced_1pct)
        read -r seconds rss cpu < <(run 1 "$input" "${traced[@]}")
        grep -o 'traces sent.*' "$out/run.err" | sed 's/\x1b\[[0-9;]*m//g' ;;
      workers_1_tapped) read -r seconds rss cpu < <(tapped 1 "$input") ;;
    esac
    echo "variant=$variant events=$events seconds=$seconds items_per_s=$(python3 -c "print(round($events / $seconds))") rss_kib=$rss cpu_s=$cpu" | tee -a "$log"
  done
done
kill $sink
wait $sink || true
echo "spans received by the collector over $rounds traced runs: $(cat "$out/otlp_sink.txt")"
echo "events printed by the tap over $rounds tapped runs: $(wc -l <"$out/tap.jsonl")"
kept=$(wc -l <"$out/json_etl.jsonl")
echo "events kept and written: $kept"

double=$out/events-double.jsonl
[ -f "$double" ] || cat "$input" "$input" >"$double"
large=$out/events-large.jsonl
[ -f "$large" ] || python3 - "$large" <<'PY'
import json, random, sys
random.seed(7)
levels = ["ERROR", "WARN", "INFO", "DEBUG"]
with open(sys.argv[1], "w") as f:
    for i in range(3000):
        event = {"ts": f"2026-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}.000Z", "level": levels[i % 4],
                 "service": f"api-{i % 7}", "user_id": i, "latency_ms": round(random.random() * 300, 1),
                 "msg": "x" * 200_000}
        f.write(json.dumps(event, separators=(",", ":")) + "\n")
PY
for round in $(seq "$rounds"); do
  for workers in 1 2; do
    read -r seconds rss cpu < <(run "$workers" "$double")
    echo "variant=workers_${workers}_double_input events=$((events * 2)) seconds=$seconds items_per_s=$(python3 -c "print(round($events * 2 / $seconds))") rss_kib=$rss cpu_s=$cpu" | tee -a "$log"
  done
  read -r seconds rss cpu < <(run 1 "$large")
  echo "variant=workers_1_large_events events=3000 seconds=$seconds items_per_s=$(python3 -c "print(round(3000 / $seconds))") rss_kib=$rss cpu_s=$cpu" | tee -a "$log"
done

python3 "$root/bench/summarize.py" --costs "tracing 1% (1 worker)=workers_1_traced_1pct/workers_1:3" \
  "a tap attached (1 worker)=workers_1_tapped/workers_1:3" <"$log"
python3 - "$log" <<'PY'
import re, statistics, sys
rss = {}
rate = {}
for line in open(sys.argv[1]):
    f = dict(re.findall(r"(\w+)=(\S+)", line))
    rss.setdefault(f["variant"], []).append(int(f["rss_kib"]) / 1024)
    rate.setdefault(f["variant"], []).append(float(f["items_per_s"]))
def verdict(ok):
    return "met" if ok else "MISSED"
best = max(statistics.median(rate["workers_1"]), statistics.median(rate["workers_2"]))
print(f"{'events/s, best of 1 and 2 workers (median)':<48} {best:>12,.0f}  target >= 2,500,000: {verdict(best >= 2.5e6)}")
for variant in ["workers_1", "workers_2", "workers_1_double_input", "workers_2_double_input"]:
    peak = max(rss[variant])
    print(f"{'peak RSS, ' + variant:<48} {peak:>10.1f} MiB  target <= 32 MiB: {verdict(peak <= 32)}")
large = max(rss["workers_1_large_events"])
print(f"{'peak RSS, 3,000 events of 200 KB':<48} {large:>10.1f} MiB  target < 64 MiB: {verdict(large < 64)}")
one, two = statistics.median(rate["workers_1"]), statistics.median(rate["workers_2"])
print(f"{'2 workers / 1 worker, events/s (medians)':<48} {two / one:>12.2f}x  target >= 1: {verdict(two >= one)}")
PY

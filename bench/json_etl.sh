#!/usr/bin/env bash
# JSON ETL: EVENTS JSON lines (web-service logs made by bench/events.yaml) through parse ->
# filter -> jq transform -> serialize to a file (bench/json_etl.yaml), with `workers: 1` and
# `workers: 2`, with `workers: 1` traced at a 1% sample (spans sent over OTLP/HTTP to
# bench/otlp_sink.py, which counts them), and with `workers: 1` watched by `sluice tap` on the
# jq stage from the start (TAP_RATE events a second, default 100, through the admin server).
# Prints events/s, peak RSS and CPU-seconds (/usr/bin/time) for each, the cost of tracing and of
# a tap in events/s and in CPU, and the peak RSS for twice the input to show that memory does
# not grow with it.
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
read -r seconds rss_double cpu < <(run 2 "$double")
echo "variant=workers_2_double_input events=$((events * 2)) seconds=$seconds items_per_s=$(python3 -c "print(round($events * 2 / $seconds))") rss_kib=$rss_double cpu_s=$cpu" | tee -a "$log"

python3 "$root/bench/summarize.py" --costs "tracing 1% (1 worker)=workers_1_traced_1pct/workers_1:3" \
  "a tap attached (1 worker)=workers_1_tapped/workers_1:3" <"$log"
python3 - "$log" <<'PY'
import re, statistics, sys
rss = {}
rate = {}
for line in open(sys.argv[1]):
    f = dict(re.findall(r"(\w+)=(\S+)", line))
    rss.setdefault(f["variant"], []).append(int(f["rss_kib"]))
    rate.setdefault(f["variant"], []).append(float(f["items_per_s"]))
two = statistics.median(rate["workers_2"])
peak = max(max(v) for v in rss.values()) / 1024
print(f"{'events/s with 2 workers (median)':<44} {two:>12,.0f}  target >= 1,000,000: {'met' if two >= 1e6 else 'MISSED'}")
print(f"{'peak RSS, any run':<44} {peak:>10.1f} MiB  target < 100 MiB: {'met' if peak < 100 else 'MISSED'}")
single = max(rss["workers_2"]) / 1024
double = max(rss["workers_2_double_input"]) / 1024
print(f"{'peak RSS, 2 workers: input x1 / x2':<44} {single:>6.1f} / {double:.1f} MiB")
PY

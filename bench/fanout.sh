#!/usr/bin/env bash
# Fan-out with a slow or failing sibling: one generator (web-service logs, about 200 bytes each)
# read by two sinks. `fast` writes a file; `slow` is an HTTP sink whose receiver
# (bench/slow_http.py) takes 1% of what `fast` does alone, or is down (an HTTP sink to a closed
# port, retried without end). Each run lasts SECONDS; `fast`'s rate is measured from its metrics between the end of the
# first second and the end of the run. Side by side in one run of this script:
#
#   alone                   fast only
#   slow sibling            fast + slow, no buffer: the broadcast waits for the slow branch
#   slow sibling, buffered  fast + slow with a disk buffer
#   down sibling, buffered  fast + down with a disk buffer
#
# Then the disk buffer's write rate: EVENTS events into the buffer of a sink that is down, from
# the start of the run until all of them are synced, beside the same events written to a file.
# Targets: the healthy sink keeps at least 80% of its rate alone while its sibling is slow or
# down behind a disk buffer, and the buffer takes at least 500,000 events/s.
#
#   bench/fanout.sh            # SECONDS_PER_RUN=6 EVENTS=2000000 [SLUICE=target/release/sluice]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
seconds=${SECONDS_PER_RUN:-6}
events=${EVENTS:-2000000}
out=$root/bench/out/fanout
rm -rf "$out"
mkdir -p "$out"

# SLUICE=PATH runs a binary built already.
[ -n "${SLUICE:-}" ] || cargo build --release -q -p sluice
sluice=${SLUICE:-$root/target/release/sluice}

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# The value of the series `$2` in the metrics at admin address `$1`, 0 when absent.
metric() {
  curl -s --max-time 2 "http://$1/metrics" | awk -v s="$2" 'index($0, s" ") == 1 { v = $2 } END { print v + 0 }'
}

# Writes pipeline `$1` with the sibling `$2` (none, slow, slow-buffered, down-buffered,
# down-only) and, for the timed runs, a generator count `$3`.
pipeline() {
  local name=$1 sibling=$2 count=${3:-}
  {
    echo "pipeline: { name: $name, data_dir: $out/data-$name }"
    echo "sources:"
    echo "  events: { type: generator, preset: logs${count:+, count: $count} }"
    echo "sinks:"
    [ "$sibling" = down-only ] || echo "  fast: { type: file, inputs: [events], path: $out/$name-fast.jsonl }"
    local buffer=""
    case $sibling in *buffered|down-only) buffer=", buffer: { type: disk, max_size: 4GiB }" ;; esac
    case $sibling in
      slow*) echo "  slow: { type: http, inputs: [events], url: \"http://127.0.0.1:$slow_port/ingest\"$buffer }" ;;
      down*) echo "  down: { type: http, inputs: [events], url: \"http://127.0.0.1:9/ingest\"$buffer }" ;;
    esac
  } >"$out/$name.yaml"
}

# Runs pipeline `$1` for $seconds and prints the events/s of its stage `fast`.
rate_of() {
  local name=$1 admin=127.0.0.1:$(free_port)
  "$sluice" run --quiet --admin-addr "$admin" "$out/$name.yaml" 2>"$out/$name.err" &
  local pid=$!
  local series="sluice_stage_items_out_total{pipeline=\"$name\",stage=\"fast\"}"
  until curl -s --max-time 1 "http://$admin/metrics" >/dev/null; do sleep 0.05; done
  sleep 1
  local t0 n0 t1 n1
  t0=$(date +%s.%N); n0=$(metric "$admin" "$series")
  sleep $((seconds - 1))
  t1=$(date +%s.%N); n1=$(metric "$admin" "$series")
  kill -INT $pid; wait $pid || true
  awk -v a="$n0" -v b="$n1" -v s="$t0" -v e="$t1" 'BEGIN { printf "%.0f\n", (b - a) / (e - s) }'
}

pipeline alone none
alone=$(rate_of alone)
slow_rate=$((alone / 100))
[ "$slow_rate" -ge 1 ] || slow_rate=1
slow_port=$(free_port)
python3 "$root/bench/slow_http.py" "$slow_port" "$slow_rate" &
receiver=$!
trap 'kill $receiver 2>/dev/null || true' EXIT
until curl -s -o /dev/null "http://127.0.0.1:$slow_port/"; do sleep 0.05; done
pipeline slow slow
pipeline slowbuf slow-buffered
pipeline downbuf down-buffered
slow=$(rate_of slow)
slowbuf=$(rate_of slowbuf)
downbuf=$(rate_of downbuf)

# The buffer's write rate: every event into the buffer of a sink that is down.
timed() { # name stage -> seconds until the stage has written $events
  local name=$1 stage=$2 admin=127.0.0.1:$(free_port)
  local start; start=$(date +%s.%N)
  "$sluice" run --quiet --admin-addr "$admin" "$out/$name.yaml" 2>"$out/$name.err" &
  local pid=$!
  local series="sluice_stage_items_out_total{pipeline=\"$name\",stage=\"$stage\"}"
  until [ "$(metric "$admin" "$series")" -ge "$events" ] 2>/dev/null; do sleep 0.02; done
  local end; end=$(date +%s.%N)
  kill -INT $pid 2>/dev/null; wait $pid || true
  awk -v s="$start" -v e="$end" 'BEGIN { printf "%.3f\n", e - s }'
}
pipeline buffer down-only "$events"
pipeline file none "$events"
buffer_s=$(timed buffer down.buffer)
file_s=$(timed file fast)

echo
echo "fan-out: one generator, two sinks, ${seconds}s per run ($(nproc) cores)"
printf '%-34s %14s %8s\n' "run" "fast events/s" "÷ alone"
row() { awk -v n="$1" -v r="$2" -v a="$alone" 'BEGIN { printf "%-34s %14.0f %7.2fx\n", n, r, r / a }'; }
row "alone" "$alone"
row "slow sibling (${slow_rate}/s), no buffer" "$slow"
row "slow sibling, disk buffer" "$slowbuf"
row "down sibling, disk buffer" "$downbuf"
echo
awk -v n="$events" -v b="$buffer_s" -v f="$file_s" 'BEGIN {
  printf "disk buffer write: %d events in %.2fs = %.0f events/s (a file sink: %.0f events/s, %.2fx)\n", n, b, n / b, n / f, f / b }'
echo
# "met" when $1 >= $2, else "MISSED".
verdict() { if awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 >= b + 0) }'; then echo met; else echo MISSED; fi; }
share() { awk -v r="$1" -v a="$alone" 'BEGIN { printf "%.2f", r / a }'; }
echo "target: the healthy sink keeps >= 0.80 of its rate beside a slow sibling with a buffer: $(share "$slowbuf") $(verdict "$(share "$slowbuf")" 0.8)"
echo "target: the healthy sink keeps >= 0.80 of its rate beside a down sibling with a buffer: $(share "$downbuf") $(verdict "$(share "$downbuf")" 0.8)"
write_rate=$(awk -v n="$events" -v b="$buffer_s" 'BEGIN { printf "%.0f", n / b }')
echo "target: the disk buffer writes >= 500,000 events/s: $write_rate $(verdict "$write_rate" 500000)"

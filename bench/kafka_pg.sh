#!/usr/bin/env bash
# Kafka -> PostgreSQL: MESSAGES JSON events (web-service logs made by bench/events.yaml) are
# produced by `sluice run` (file -> kafka sink) to a topic of PARTITIONS partitions, then loaded into a
# table by `sluice run` (kafka source -> postgres sink), as plain inserts and exactly once.
# In the same run, the ceiling: psql's \copy of the same rows (CSV) into the same table.
# Then Kafka -> blackhole with two `sluice` processes in one consumer group, showing how they
# split the work. Prints messages/s for each and the ratios to the \copy ceiling.
#
# Also, to tell the parts apart: the same rows from a file into the table (the sink alone), and
# Kafka -> blackhole with one process (what the broker and the source deliver).
#
#   bench/kafka_pg.sh                 # MESSAGES=1000000 PARTITIONS=4
#
# The broker is a tansu of its own on its in-memory storage engine (on BENCH_KAFKA_PORT, 19092),
# stopped at the end: tansu's SQLite engine, which the tests use, serves about 30,000 messages/s
# and would measure nothing but itself. KAFKA_BROKERS=host:port uses a running broker instead.
#
# Needs PostgreSQL (scripts/services.sh starts it, and installs tansu), psql, and python3 with
# venv (kafka-python creates the topic; it is installed under bench/out).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
messages=${MESSAGES:-1000000}
partitions=${PARTITIONS:-4}
# The Unix socket: sqlx 0.9.0 does not set TCP_NODELAY, and a batch's statement stalls on
# delayed ACKs over TCP (8x slower here); see docs/kafka-to-postgres.md.
db=${DATABASE_URL:-postgres://postgres@localhost/test?host=/var/run/postgresql}
out=$root/bench/out
mkdir -p "$out"

scripts/services.sh postgres kafka >/dev/null
cargo build --release -q -p sluice
sluice=$root/target/release/sluice
[ -x "$out/venv/bin/python" ] || { python3 -m venv "$out/venv" && "$out/venv/bin/pip" install -q kafka-python; }

if [ -n "${KAFKA_BROKERS:-}" ]; then
  brokers=$KAFKA_BROKERS
else
  kafka_port=${BENCH_KAFKA_PORT:-19092}
  brokers=127.0.0.1:$kafka_port
  tansu=${TANSU_ROOT:-$HOME/.local/share/sluice/tansu-0.6.0-libsql}/bin/tansu
  "$tansu" broker --listener-url "tcp://$brokers" --advertised-listener-url "tcp://$brokers" \
    --storage-engine memory://tansu/ --silent &
  broker_pid=$!
  trap 'kill "$broker_pid" 2>/dev/null || true' EXIT
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$kafka_port") 2>/dev/null && break
    sleep 0.1
  done
fi

input=$out/events-$messages.jsonl
[ -f "$input" ] || EVENTS=$messages EVENTS_OUTPUT=$input "$sluice" run --quiet bench/events.yaml
csv=$out/events-$messages.csv
[ -f "$csv" ] || python3 - "$input" "$csv" <<'PY'
import csv, json, sys
with open(sys.argv[1]) as src, open(sys.argv[2], "w", newline="") as dst:
    out = csv.writer(dst)
    for line in src:
        e = json.loads(line)
        out.writerow([e["ts"], e["level"], e["service"], e["user_id"], e["latency_ms"], e["msg"]])
PY

run_id=$$-$(date +%s)
topic=bench-kafka-pg-$run_id
table=bench_kafka_pg
create_topic() { # name
  "$out/venv/bin/python" - "$brokers" "$1" "$partitions" <<'PY'
import sys
from kafka.admin import KafkaAdminClient, NewTopic
admin = KafkaAdminClient(bootstrap_servers=sys.argv[1])
admin.create_topics([NewTopic(sys.argv[2], int(sys.argv[3]), 1)])
PY
}
create_topic "$topic"
psql "$db" -qc "DROP TABLE IF EXISTS $table; CREATE TABLE $table (ts timestamptz, level text,
  service text, user_id bigint, latency_ms double precision, msg text)"

now() { date +%s.%N; }
rate() { python3 -c "print(round($1 / ($3 - $2)))"; }

# The count a stage has written, from a process's /metrics.
written() { # port stage
  { curl -fs "http://127.0.0.1:$1/metrics" 2>/dev/null || true; } |
    awk -v stage="$2" '$1 ~ "^sluice_stage_items_out_total" && $1 ~ "stage=\""stage"\"" {s += $2} END {print s + 0}'
}

# Runs a pipeline in the background with its admin server on `port`, waits until the stages
# `stage` of the processes on `ports` have written `messages` in all, stops them, and prints
# "messages_per_s count_per_process...": timed from the first message written to the last.
measure() { # stage port... (pipelines already started)
  local stage=$1; shift
  local started="" first=0 total counts
  while :; do
    total=0 counts=""
    for port in "$@"; do
      n=$(written "$port" "$stage")
      total=$((total + n)) counts="$counts $n"
    done
    if [ -z "$started" ] && [ "$total" -gt 0 ]; then started=$(now) first=$total; fi
    [ "$total" -ge "$messages" ] && break
    sleep 0.05
  done
  echo "$(rate $((total - first)) "$started" "$(now)")$counts"
}

port_a=$((20000 + RANDOM % 20000))

produce() { # topic
  cat >"$out/kafka_pg_produce.yaml" <<EOF
sources:
  events: { type: file, path: $input }
sinks:
  topic: { type: kafka, inputs: [events], brokers: "$brokers", topic: $1, key: .service }
EOF
  "$sluice" run --quiet "$out/kafka_pg_produce.yaml"
}
start=$(now)
produce "$topic"
produced="variant=produce messages=$messages messages_per_s=$(rate "$messages" "$start" "$(now)")"

# The postgres sink of the loading pipelines, reading `events`, with further options.
db_sink() { # [options]
  cat <<EOF
sinks:
  db:
    type: postgres
    inputs: [events]
    url: "$db"
    table: $table
    columns: { ts: ts, level: level, service: service, user_id: user_id, latency_ms: latency_ms, msg: msg }
    ${1:-}
EOF
}

load() { # variant exactly_once
  local source_extra="" sink_extra=""
  if [ "$2" = true ]; then
    source_extra="exactly_once: { url: \"$db\", table: $table }"
    sink_extra="exactly_once: true"
  fi
  psql "$db" -qc "TRUNCATE $table; DELETE FROM sluice_kafka_offsets WHERE target = '$table'" 2>/dev/null ||
    psql "$db" -qc "TRUNCATE $table"
  {
    cat <<EOF
sources:
  events:
    type: kafka
    brokers: "$brokers"
    topics: [$topic]
    group: bench-$1-$run_id
    $source_extra
EOF
    db_sink "$sink_extra"
  } >"$out/kafka_pg_$1.yaml"
  "$sluice" run --quiet --admin-addr "127.0.0.1:$port_a" "$out/kafka_pg_$1.yaml" &
  local pid=$! per_s
  per_s=$(measure db "$port_a")
  per_s=${per_s%% *}
  kill -INT "$pid"; wait "$pid" || true
  local rows
  rows=$(psql "$db" -Atc "SELECT count(*) FROM $table")
  echo "variant=$1 messages=$messages rows=$rows messages_per_s=$per_s"
}

file_load() {
  psql "$db" -qc "TRUNCATE $table"
  {
    echo "sources: { events: { type: file, path: $input } }"
    db_sink
  } >"$out/file_pg.yaml"
  local start
  start=$(now)
  "$sluice" run --quiet "$out/file_pg.yaml"
  echo "variant=file_to_postgres messages=$messages messages_per_s=$(rate "$messages" "$start" "$(now)")"
}

# Kafka -> blackhole with `1` or `2` processes in one group. One reads the full topic. Two
# share a topic that is filled while they run (so the figure is bounded by the producer's
# speed): a group takes seconds to rebalance, and the full topic takes less than that to read,
# so each waits for its share of the partitions before the messages come.
blackhole() { # processes
  local source=$topic group=bench-blackhole-$1-$run_id
  [ "$1" = 1 ] || { source=$topic-split; create_topic "$source"; }
  cat >"$out/kafka_blackhole.yaml" <<EOF
sources:
  events: { type: kafka, brokers: "$brokers", topics: [$source], group: $group }
sinks:
  nowhere: { type: blackhole, inputs: [events] }
EOF
  local pids=() ports=() i
  for i in $(seq "$1"); do
    ports+=($((port_a + i)))
    "$sluice" run --admin-addr "127.0.0.1:$((port_a + i))" "$out/kafka_blackhole.yaml" \
      2>"$out/blackhole-$i.log" &
    pids+=($!)
  done
  if [ "$1" != 1 ]; then
    # Until the last assignment of every process is some of the partitions, all of them in all.
    until python3 - "$partitions" "$out"/blackhole-*.log <<'PY'
import re, sys
last = [re.findall(r"partitions assigned.*partitions=(\d+)", open(f).read())[-1:] for f in sys.argv[2:]]
shares = [int(l[0]) for l in last if l]
sys.exit(0 if len(shares) == len(last) and min(shares) > 0 and sum(shares) == int(sys.argv[1]) else 1)
PY
    do sleep 0.2; done
    produce "$source" &
  fi
  local result per_s counts
  result=$(measure nowhere "${ports[@]}")
  kill -INT "${pids[@]}"; wait "${pids[@]}" || true
  read -r per_s counts <<<"$result"
  echo "variant=blackhole_$1 messages=$messages messages_per_s=$per_s per_process=${counts// /,}"
}

copy() {
  psql "$db" -qc "TRUNCATE $table"
  local start
  start=$(now)
  psql "$db" -qc "\\copy $table FROM '$csv' CSV"
  echo "variant=psql_copy messages=$messages messages_per_s=$(rate "$messages" "$start" "$(now)")"
}

log=$out/kafka_pg.log
{
  echo "$produced"
  copy
  file_load
  load plain false
  load exactly_once true
  blackhole 1
  blackhole 2
  copy
} | tee "$log"

python3 - "$log" <<'PY'
import re, statistics, sys
rate, split = {}, {}
for line in open(sys.argv[1]):
    f = dict(re.findall(r"(\w+)=(\S+)", line))
    rate.setdefault(f["variant"], []).append(float(f["messages_per_s"]))
    split[f["variant"]] = f.get("per_process", "")
ceiling = statistics.median(rate["psql_copy"])
broker = rate["blackhole_1"][0]
print(f"{'psql copy into the table (median of 2)':<44} {ceiling:>10,.0f} rows/s")
print(f"{'sluice file -> postgres (the sink alone)':<44} {rate['file_to_postgres'][0]:>10,.0f} msg/s  {rate['file_to_postgres'][0] / ceiling:.2f}x of copy")
print(f"{'sluice kafka -> blackhole, 1 process':<44} {broker:>10,.0f} msg/s  (what the broker delivers)")
print(f"{'sluice kafka -> blackhole, 2 processes':<44} {rate['blackhole_2'][0]:>10,.0f} msg/s  (while produced at {rate['produce'][0]:,.0f} msg/s), split {split['blackhole_2'].replace(',', ' / ')}")
for variant in ("plain", "exactly_once"):
    r = rate[variant][0]
    verdict = "met" if r >= ceiling / 2 else "MISSED"
    print(f"{'sluice kafka -> postgres, ' + variant:<44} {r:>10,.0f} msg/s  {r / ceiling:.2f}x of copy (target >= 0.5: {verdict}), {r / broker:.2f}x of kafka -> blackhole")
PY
psql "$db" -qc "DROP TABLE $table; DELETE FROM sluice_kafka_offsets WHERE target = '$table'"

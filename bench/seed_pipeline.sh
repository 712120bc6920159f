#!/usr/bin/env bash
# The seed guides' generator -> square -> sum pipeline over ITEMS integers, side by side in one
# run: a plain Rust loop, Sluice, and, when it is there, the Go baseline of the seed guides
# (GO_SEED, by default ../shared/bench/go-seed beside the repository: unbuffered, buffered and
# fan-out variants); then a 1 us-per-item function on parallel(2) against one worker.
# Prints the median of ROUNDS rounds per variant and the ratios against the targets.
#
#   bench/seed_pipeline.sh            # ITEMS=10000000 ROUNDS=5
#
# The Go baseline needs Go (apt-get install -y golang-go); without it the Go variants are left
# out.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
items=${ITEMS:-10000000}
rounds=${ROUNDS:-5}
go_seed=${GO_SEED:-$root/../shared/bench/go-seed}
out=$root/bench/out
mkdir -p "$out"

go_baseline=0
if command -v go >/dev/null && [ -f "$go_seed/main.go" ]; then
  cp "$go_seed/main.go" "$go_seed/go.mod" "$out/"
  (cd "$out" && GOFLAGS=-mod=mod go build -o goseed .) && go_baseline=1
else
  echo "no Go baseline (set GO_SEED to its folder, with Go installed): its variants are left out" >&2
fi

cargo bench -p sluice-core --bench seed_pipeline --no-run 2>/dev/null
sluice() { cargo bench -q -p sluice-core --bench seed_pipeline -- --items "$items" --rounds 1 "$@" 2>/dev/null; }

log=$out/seed_pipeline.log
: >"$log"
for round in $(seq "$rounds"); do
  echo "round $round/$rounds" >&2
  [ "$go_baseline" = 1 ] && "$out/goseed" -n "$items" | sed 's/^/variant=go_/' >>"$log"
  sluice --work-items 1000000 >>"$log"
done

python3 "$root/bench/summarize.py" --ratios \
  "sluice / Go unbuffered=sluice/go_unbuffered:30" \
  "sluice / Go buffered=sluice/go_buffered:10" \
  "sluice / Go fan-out=sluice/go_fanout" \
  "plain loop / sluice=plain_loop/sluice" \
  "parallel(2) / one worker (1 us items)=work_1us_parallel2/work_1us_serial:1.8" \
  "two bare threads / one (machine ceiling)=work_1us_two_bare_threads/work_1us_serial" \
  <"$log"

python3 - "$log" <<'PY'
import re, statistics, sys
rates = {}
for line in open(sys.argv[1]):
    f = dict(re.findall(r"(\w+)=(\S+)", line))
    if "variant" in f:
        rates.setdefault(f["variant"], []).append(float(f["items_per_s"]))
m = {k: statistics.median(v) for k, v in rates.items()}
stages = 3  # source, square, sum
overhead = (1e9 / m["sluice"] - 1e9 / m["plain_loop"]) / stages
extra = (1e9 / m["sluice_plus_3_stages"] - 1e9 / m["sluice"]) / 3
print(f"{'overhead per item per stage (wall)':<44} {overhead:>8.2f} ns  target <= 5: {'met' if overhead <= 5 else 'MISSED'}")
print(f"{'cost of each extra map stage (wall)':<44} {extra:>8.2f} ns")
PY
echo "raw figures: $log"

#!/usr/bin/env bash
# What a rate shared by every worker costs the claims: JOBS no-op jobs carrying 100 partition
# keys in turn, worked by one worker of CONCURRENCY slots with the defaults, on each store:
# without a rate, then with a rate too high to hold anything back (a billion a second) counted
# for the whole queue, per kind and per partition key, side by side in each round
# (crates/sluice-jobs/benches/throughput.rs, SLUICE_BENCH_RATE and SLUICE_BENCH_TENANTS).
#
# Prints jobs worked/s per variant, and each rated variant's median ratio to the unrated run of
# the same round, against the target: a shared rate keeps at least 0.8x of the throughput.
#
#   bench/jobs_rates.sh     # JOBS=50000 CONCURRENCY=100 ROUNDS=2 STORES="sqlite postgres redis"
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export SLUICE_BENCH_JOBS=${JOBS:-50000}
export SLUICE_BENCH_CONCURRENCY=${CONCURRENCY:-100}
export SLUICE_BENCH_SAMPLES=${SAMPLES:-50}
export SLUICE_BENCH_PROCESSES=1
export SLUICE_BENCH_TENANTS=100
rounds=${ROUNDS:-2}
stores=${STORES:-sqlite postgres redis}
mkdir -p bench/out
log=bench/out/jobs_rates.log
: >"$log"

scripts/services.sh postgres redis >/dev/null
source bench/job_bench.sh
bench=$(job_bench)

for round in $(seq "$rounds"); do
  for store in $stores; do
    for rate in none queue kind partition_key; do
      job_store_clear "$store" sluice_rates
      settings=(SLUICE_BENCH_LABEL="rate_$rate")
      [ "$rate" = none ] || settings+=(SLUICE_BENCH_RATE="$rate")
      env "${settings[@]}" SLUICE_BENCH_AFTER_INSERT="$(job_store_analyze "$store" sluice_rates)" \
        "$bench" "$(job_store_url "$store" sluice_rates)" | sed "s/^/round=$round /" | tee -a "$log"
    done
  done
done

python3 - "$log" <<'PY'
import re, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    f = dict(re.findall(r"(\w+)=(\S+)", line))
    m = re.match(r"sluice_(\w+?)_rate_(\w+)$", f.get("variant", ""))
    if m:
        runs[(m.group(1), m.group(2), f["round"])] = float(f["items_per_s"])
print("\nstore      rate            jobs/s (median)   vs no rate   target 0.8x")
for store in dict.fromkeys(k[0] for k in runs):
    for rate in ["none", "queue", "kind", "partition_key"]:
        rounds = [r for (s, x, r) in runs if s == store and x == rate]
        if not rounds:
            continue
        speed = statistics.median(runs[(store, rate, r)] for r in rounds)
        if rate == "none":
            print(f"{store:10} {rate:15} {speed:15,.0f}")
            continue
        ratios = [runs[(store, rate, r)] / runs[(store, "none", r)] for r in rounds
                  if (store, "none", r) in runs]
        ratio = statistics.median(ratios)
        verdict = "met" if ratio >= 0.8 else "MISSED"
        print(f"{store:10} {rate:15} {speed:15,.0f}   {ratio:9.2f}x   {verdict}")
PY

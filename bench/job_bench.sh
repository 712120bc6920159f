# Sourced by the job benchmarks: builds the job throughput bench
# (crates/sluice-jobs/benches/throughput.rs) and prints the path of its executable.
job_bench() {
  cargo bench -q -p sluice-jobs --bench throughput --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "throughput" and m.get("executable"):
        print(m["executable"])'
}

# Sourced by the job benchmarks, from the repository's root: the job throughput bench
# (crates/sluice-jobs/benches/throughput.rs), and a named bench store on each of SQLite
# (bench/out/NAME.db), PostgreSQL (schema NAME) and Redis (key prefix NAME).
source bench/postgres_url.sh

# Builds the throughput bench and prints the path of its executable.
job_bench() {
  cargo bench -q -p sluice-jobs --bench throughput --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "throughput" and m.get("executable"):
        print(m["executable"])'
}

# job_store_url STORE NAME: the URL of bench store NAME on STORE (sqlite, postgres or redis).
job_store_url() {
  case $1 in
    sqlite) echo "sqlite://$PWD/bench/out/$2.db" ;;
    postgres)
      local pg
      pg=$(postgres_url)
      case $pg in *\?*) echo "$pg&schema=$2" ;; *) echo "$pg?schema=$2" ;; esac
      ;;
    redis) echo "redis://127.0.0.1:6379?prefix=$2" ;;
  esac
}

# job_store_clear STORE NAME: removes all bench store NAME holds on STORE.
job_store_clear() {
  case $1 in
    sqlite) rm -f "bench/out/$2.db" "bench/out/$2.db-wal" "bench/out/$2.db-shm" ;;
    postgres) psql -q "$(postgres_url)" -c "DROP SCHEMA IF EXISTS $2 CASCADE" 2>/dev/null ;;
    redis) redis-cli --scan --pattern "{$2}*" | xargs -r -n 1000 redis-cli del >/dev/null ;;
  esac
}

# job_store_analyze STORE NAME: the command that has PostgreSQL analyze bench store NAME's jobs
# table after a bulk insert, as autovacuum would before long; nothing on the other stores.
job_store_analyze() {
  case $1 in
    postgres) echo "psql -q '$(postgres_url)' -c 'ANALYZE $2.sluice_jobs'" ;;
    *) echo true ;;
  esac
}

# Sourced by the job benchmarks: prints the PostgreSQL URL they connect to, over the Unix socket
# (PGSOCKET, default /var/run/postgresql) when it exists, else over TCP on 127.0.0.1:5432.
postgres_url() {
  local socket=${PGSOCKET:-/var/run/postgresql}
  if [ -S "$socket/.s.PGSQL.5432" ]; then
    echo "postgres://postgres@localhost/test?host=$socket"
  else
    echo "postgres://postgres@127.0.0.1:5432/test"
  fi
}

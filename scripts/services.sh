#!/usr/bin/env bash
# Starts the services the integration tests talk to, each only if it is not answering already:
#   postgres (127.0.0.1:5432, trust auth, database `test`), redis (6379),
#   nats with JetStream (4222), rabbitmq (5672, guest/guest), kafka (a Kafka-protocol broker,
#   tansu, on 9092; SQLite in /var/lib/sluice-tansu); Prometheus's binaries (prometheus,
#   promtool), which the dashboard test runs on a port of its own; and for the console's browser
#   tests, Chromium and playwright-core, and schemathesis for the check of its API; tmux, in
#   which the tests of `sluice top` run it.
# On a machine without them it installs Debian's packages first (needs root and apt).
#
#   scripts/services.sh                 # all of them
#   scripts/services.sh postgres redis  # some
#   scripts/services.sh browser         # Chromium and playwright-core only
set -euo pipefail

up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() {
  local name=$1 port=$2
  for _ in $(seq 1 60); do
    up "$port" && { echo "$name: up on $port"; return 0; }
    sleep 1
  done
  echo "$name: did not come up on port $port" >&2
  return 1
}

apt_updated=0
need() {
  local binary=$1 package=$2
  command -v "$binary" >/dev/null && return 0
  [ -x "$binary" ] && return 0
  echo "installing $package" >&2
  if [ $apt_updated = 0 ]; then apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >/dev/null
}

start_postgres() {
  # The outage and TLS tests run servers of their own from the same binaries, with certificates
  # openssl makes; socat puts TLS in front of RabbitMQ and the Kafka broker; curl is their
  # HTTPS client.
  need openssl openssl
  need socat socat
  need curl curl
  up 5432 && { echo "postgres: up on 5432"; return; }
  need pg_ctlcluster postgresql
  local version
  version=$(ls /etc/postgresql | sort -V | tail -1)
  local conf=/etc/postgresql/$version/main
  # Trust auth on the loopback, as the tests expect.
  if ! grep -q "sluice-tests" "$conf/pg_hba.conf" 2>/dev/null; then
    sed -i '1i host all all 127.0.0.1/32 trust # sluice-tests\nlocal all all trust # sluice-tests' "$conf/pg_hba.conf"
  fi
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
  wait_for postgres 5432
  su postgres -c "psql -tAc \"SELECT 1 FROM pg_database WHERE datname='test'\"" | grep -q 1 ||
    su postgres -c "createdb test"
}

start_redis() {
  up 6379 && { echo "redis: up on 6379"; return; }
  need redis-server redis-server
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/sluice-tests.log
  wait_for redis 6379
}

start_nats() {
  up 4222 && { echo "nats: up on 4222"; return; }
  need nats-server nats-server
  mkdir -p /var/lib/nats-server
  start-stop-daemon --start --oknodo --background --exec "$(command -v nats-server)" -- \
    -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
  wait_for nats 4222
}

start_rabbitmq() {
  up 5672 && { echo "rabbitmq: up on 5672"; return; }
  need rabbitmq-server rabbitmq-server
  rabbitmq-server -detached
  wait_for rabbitmq 5672
}

start_kafka() {
  up 9092 && { echo "kafka: up on 9092"; return; }
  # tansu 0.6.0 with its SQLite storage engine: the in-memory engine serves a fetch from the
  # first batch starting at or after the offset asked for, so a consumer resuming inside a
  # batch skips the rest of it.
  local root=${TANSU_ROOT:-$HOME/.local/share/sluice/tansu-0.6.0-libsql}
  local data=${TANSU_DATA:-/var/lib/sluice-tansu}
  if [ ! -x "$root/bin/tansu" ]; then
    echo "installing the tansu broker with cargo into $root (10 to 15 minutes, once)" >&2
    cargo install tansu --version 0.6.0 --locked --features dynostore,libsql --root "$root"
  fi
  mkdir -p "$data"
  start-stop-daemon --start --oknodo --background --chdir "$data" --exec "$root/bin/tansu" -- \
    broker --listener-url tcp://127.0.0.1:9092 --advertised-listener-url tcp://127.0.0.1:9092 \
    --storage-engine sqlite://tansu.db --silent
  wait_for kafka 9092
}

install_prometheus() {
  need curl curl
  if command -v prometheus >/dev/null && command -v promtool >/dev/null; then
    echo "prometheus: installed"
    return
  fi
  echo "installing prometheus" >&2
  if [ $apt_updated = 0 ]; then apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
}

# The console's browser tests: Debian's Chromium, and playwright-core from npm (the version in
# crates/sluice/tests/browser/package-lock.json) to drive it. Playwright's own browser download
# is never used.
install_browser() {
  need chromium chromium
  need node nodejs
  need npm npm
  local dir=crates/sluice/tests/browser
  if [ -d "$dir/node_modules/playwright-core" ]; then
    echo "browser: chromium and playwright-core installed"
    return
  fi
  echo "installing playwright-core into $dir" >&2
  (cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
}

# The check of the console's API against its OpenAPI document.
install_schemathesis() {
  if command -v st >/dev/null; then
    echo "schemathesis: installed"
    return
  fi
  echo "installing schemathesis" >&2
  python3 -m pip install --quiet --disable-pip-version-check schemathesis==4.32.5
  hash -r
}

# The terminal the tests of `sluice top` run it in.
install_terminal() {
  need tmux tmux
  echo "terminal: tmux installed"
}

services=("$@")
[ ${#services[@]} -gt 0 ] || services=(postgres redis nats rabbitmq kafka prometheus browser schemathesis terminal)
for service in "${services[@]}"; do
  case $service in
    postgres) start_postgres ;;
    redis) start_redis ;;
    nats) start_nats ;;
    rabbitmq) start_rabbitmq ;;
    kafka) start_kafka ;;
    prometheus) install_prometheus ;;
    browser) install_browser ;;
    schemathesis) install_schemathesis ;;
    terminal) install_terminal ;;
    *) echo "unknown service '$service'; expected postgres, redis, nats, rabbitmq, kafka, prometheus, browser, schemathesis or terminal" >&2; exit 2 ;;
  esac
done

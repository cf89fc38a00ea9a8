#!/usr/bin/env bash
# Starts the PostgreSQL and Redis the integration tests use, when they are
# not already running on 127.0.0.1. Installs them from Debian's packages
# when they are missing (needs root). Safe to run again.
set -u

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }

apt_install() {
  command -v apt-get >/dev/null || return 1
  [ "$(id -u)" = 0 ] || return 1
  apt-get update -qq >/dev/null 2>&1
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1
}

if ! pg_up; then
  command -v pg_ctlcluster >/dev/null || apt_install postgresql postgresql-client
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    for v in $(ls /etc/postgresql); do
      pg_ctlcluster --skip-systemctl-redirect "$v" main start || true
    done
  fi
  for _ in $(seq 1 30); do pg_up && break; sleep 1; done
  if pg_up; then
    # trust auth for local test connections is the machine's setting; make sure
    # the test database exists.
    psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='test'" 2>/dev/null | grep -q 1 ||
      psql -h 127.0.0.1 -U postgres -c "CREATE DATABASE test" >/dev/null 2>&1 || true
  fi
fi
pg_up && echo "postgres: up" || echo "postgres: NOT running"

if ! redis_up; then
  command -v redis-server >/dev/null || apt_install redis-server
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log >/dev/null 2>&1 ||
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null 2>&1 || true
  for _ in $(seq 1 20); do redis_up && break; sleep 0.5; done
fi
redis_up && echo "redis: up" || echo "redis: NOT running"

# The seed client test runs the design note's Python client.
if ! python3 -c 'import websockets' 2>/dev/null && ! /usr/bin/python3 -c 'import websockets' 2>/dev/null; then
  apt_install python3-websockets || true
fi

# The dashboard test renders the admin page in Debian's headless Chromium.
if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then
  apt_install chromium || true
fi

# The load-balancer tests run Debian's nginx as their own processes, under
# their own prefix. Debian starts a package's service on install unless
# policy-rc.d forbids it: forbid it for this install, the system nginx is
# never wanted here.
if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
  made_policy=
  if [ "$(id -u)" = 0 ] && [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && made_policy=1
  fi
  apt_install --no-install-recommends nginx-light || true
  [ -n "$made_policy" ] && rm -f /usr/sbin/policy-rc.d
fi
{ command -v nginx >/dev/null || [ -x /usr/sbin/nginx ]; } && echo "nginx: installed" || echo "nginx: NOT installed"

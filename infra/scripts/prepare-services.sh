#!/usr/bin/env bash
# Makes this machine's services ready for the tests and benchmarks: starts PostgreSQL, Redis and NATS
# JetStream when they are down (with the commands of shared/INFRA.md), creates database `test`, installs
# pgvector. Idempotent and quick when all is there; `.ci/run`, `npm test` and every `npm run bench*` run it.
# --soft: a service that cannot be made ready is one line on stderr and exit 0 (the tests then skip loudly),
# except under CI=true, where it is a failure. Services given by URL elsewhere (DATABASE_URL, NATS_URL,
# REDIS_URL naming another host) are left alone: they are the user's.
set -uo pipefail
cd "$(dirname "$0")/../.."

soft=false
[ "${1:-}" = "--soft" ] && soft=true
problem() {
  echo "prepare-services: $*" >&2
  if $soft && [ "${CI:-}" != "true" ]; then exit 0; fi
  exit 1
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() { for _ in $(seq 1 30); do port_open "$1" && return 0; sleep 1; done; return 1; }
local_url() { [ -z "$1" ] || [[ "$1" =~ ://([^@/]*@)?(127\.0\.0\.1|localhost)(:[0-9]+)?(/|$) ]]; }

if local_url "${DATABASE_URL:-}"; then
  if ! port_open 5432; then
    echo "PostgreSQL is down: starting it"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql 2>/dev/null | head -n1)" main start >/dev/null 2>&1 || true
    wait_port 5432 || problem "PostgreSQL is not reachable on 127.0.0.1:5432 and could not be started"
  fi
  psql -h 127.0.0.1 -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'test'" 2>/dev/null | grep -q 1 \
    || psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE test" >/dev/null 2>&1 \
    || problem "cannot create database test in PostgreSQL on 127.0.0.1:5432"
  bash infra/scripts/install-pgvector.sh >/tmp/agentcore-pgvector.log 2>&1 \
    || { cat /tmp/agentcore-pgvector.log >&2; problem "pgvector is not available in PostgreSQL and infra/scripts/install-pgvector.sh could not install it"; }
  grep -q "installed from" /tmp/agentcore-pgvector.log && cat /tmp/agentcore-pgvector.log
fi

if local_url "${REDIS_URL:-}" && ! port_open 6379; then
  echo "Redis is down: starting it"
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log >/dev/null 2>&1 || true
  wait_port 6379 || problem "Redis is not reachable on 127.0.0.1:6379 and could not be started"
fi

if local_url "${NATS_URL:-}" && ! port_open 4222; then
  echo "NATS is down: starting it"
  mkdir -p /var/lib/nats-server 2>/dev/null
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
    -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log >/dev/null 2>&1 || true
  wait_port 4222 || problem "NATS is not reachable on 127.0.0.1:4222 and could not be started"
fi
exit 0

#!/usr/bin/env bash
# Starts the local PostgreSQL and Redis if they are not answering. (NATS is each cluster's own, with
# credentials: `pnpm overworld start` and the test suite run theirs; see `pnpm overworld nats init`.)
# Used by CI and by `pnpm overworld start`; harmless when they already run.
set -uo pipefail

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
  local name=$1 port=$2
  for _ in $(seq 1 50); do port_open "$port" && return 0; sleep 0.2; done
  echo "warning: $name did not come up on 127.0.0.1:$port" >&2
  return 1
}

if ! port_open 5432; then
  echo "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  wait_port PostgreSQL 5432
fi
if ! port_open 6379; then
  echo "starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no || true
  wait_port Redis 6379
fi
echo "services: PostgreSQL :5432, Redis :6379"
exit 0

#!/usr/bin/env bash
# Brings the cluster up with docker compose (podman through the shared compose-env on this kind of
# machine), waits until every service reports healthy, checks that the demo world's zones are all
# running (spread over the zone-AI replicas), has bots play in it from the host, and takes it down.
#   bash scripts/compose-smoke.sh [--scale zone-ai=3] [--scale state-server=2]
# COMPOSE_ENV_SETUP names the compose-env setup script (default: ../shared/tools/compose-env/setup.sh,
# else /work/shared/tools/compose-env/setup.sh); it is run when no docker engine answers.
set -euo pipefail
cd "$(dirname "$0")/.."
SERVICES=(message-director state-server uberdog client-agent zone-ai signaling link)
TIMEOUT_S=${COMPOSE_SMOKE_TIMEOUT_S:-480}
DEMO_ZONES=64
# through the published ports every bot may reach the containers from the one address of docker's proxy:
# the smoke stays under uberdog's default of 10 registrations a minute per address
BOTS=4
SETUP=${COMPOSE_ENV_SETUP:-}
if [ -z "$SETUP" ]; then
  for candidate in ../shared/tools/compose-env/setup.sh /work/shared/tools/compose-env/setup.sh; do
    if [ -f "$candidate" ]; then SETUP=$candidate; break; fi
  done
fi

if ! docker info >/dev/null 2>&1; then
  if [ -z "$SETUP" ]; then
    echo "FAIL: no docker engine and no compose-env setup at $SETUP (set COMPOSE_ENV_SETUP)" >&2
    exit 1
  fi
  echo "== setting up docker compose on podman (first time: 3-4 minutes)"
  bash "$SETUP"
  STARTED_ENV=1
fi
[ -d node_modules ] || pnpm install --frozen-lockfile

# down the project, then stop what the compose-env setup started (its podman socket and health ticker)
cleanup() {
  docker compose down -v >/dev/null 2>&1 || true
  if [ -n "${STARTED_ENV:-}" ]; then bash "$(dirname "$SETUP")/stop.sh" || true; fi
}
trap cleanup EXIT

echo "== docker compose up --build $*"
docker compose up -d --build "$@"

healthz() { docker exec "$1" node -e "fetch('http://127.0.0.1:8080/healthz').then(r=>r.text()).then(t=>console.log(t))"; }

deadline=$((SECONDS + TIMEOUT_S))
for service in "${SERVICES[@]}"; do
  for id in $(docker compose ps -q "$service"); do
    name=$(docker inspect --format '{{.Name}}' "$id")
    until [ "$(docker inspect --format '{{.State.Health.Status}}' "$id")" = healthy ]; do
      if [ $SECONDS -ge $deadline ]; then
        echo "FAIL: $name is not healthy after ${TIMEOUT_S}s; its last log lines:" >&2
        docker logs --tail 30 "$id" >&2 || true
        exit 1
      fi
      sleep 2
    done
    echo "ok: $name healthy: $(healthz "$id" | cut -c1-300)"
  done
done

echo "== the demo world: every zone runs on exactly one zone-AI replica"
replicas=$(docker compose ps -q zone-ai)
until
  total=0
  for id in $replicas; do
    count=$(docker exec "$id" node -e "fetch('http://127.0.0.1:8080/healthz').then(r=>r.json()).then(b=>console.log(b.zones.length))")
    total=$((total + count))
  done
  [ "$total" -eq "$DEMO_ZONES" ]
do
  if [ $SECONDS -ge $deadline ]; then
    echo "FAIL: the zone-AI replicas run $total zones, not $DEMO_ZONES" >&2
    exit 1
  fi
  sleep 1
done
echo "ok: $DEMO_ZONES zones over $(echo "$replicas" | wc -w) replica(s)"

echo "== bots play from the host: register, log in over REST, connect over UDP, walk"
# from the host's own address: a published container port does not take connections from the loopback
# aliases (127.0.1.x) the bots use by default (the packets are NATed to the container, the answers lost)
pnpm -s overworld bots --count "$BOTS" --duration 5 --warmup 1 --uberdog http://127.0.0.1:8000 --version dev \
  --source-address none \
  || { echo "FAIL: the bots could not play" >&2; docker compose logs --tail 20 >&2 || true; exit 1; }
echo "== the cluster came up healthy and the demo world is playable"

#!/usr/bin/env bash
# Brings the cluster up with docker compose (podman through ../shared/tools/compose-env on this kind
# of machine), waits until every service reports healthy, prints their /healthz, and takes it down.
#   bash scripts/compose-smoke.sh [--scale state-server=2]
set -euo pipefail
cd "$(dirname "$0")/.."
SERVICES=(message-director state-server uberdog client-agent)
TIMEOUT_S=${COMPOSE_SMOKE_TIMEOUT_S:-180}

if [ -f ../shared/tools/compose-env/setup.sh ] && ! docker info >/dev/null 2>&1; then
  echo "== setting up docker compose on podman (first time: 3-4 minutes)"
  bash ../shared/tools/compose-env/setup.sh
fi
[ -d node_modules ] || pnpm install --frozen-lockfile

cleanup() { docker compose down -v >/dev/null 2>&1 || true; }
trap cleanup EXIT

echo "== docker compose up --build $*"
docker compose up -d --build "$@"

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
    echo "ok: $name healthy: $(docker exec "$id" node -e "fetch('http://127.0.0.1:8080/healthz').then(r=>r.text()).then(t=>console.log(t))")"
  done
done

echo "== uberdog: register and log in"
uberdog=$(docker compose ps -q uberdog | head -n 1)
docker exec "$uberdog" node -e "
const body = { username: 'smoke_' + Date.now(), password: 'compose smoke test' };
const send = (path) => fetch('http://127.0.0.1:8080' + path, {
  method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
});
(async () => {
  const created = await send('/v1/accounts');
  const login = await send('/v1/login');
  const answer = await login.json();
  const bytes = Buffer.from(answer.connectToken ?? '', 'base64').length;
  console.log('register', created.status, 'login', login.status, 'token bytes', bytes, 'servers', answer.servers);
  process.exit(created.status === 201 && login.status === 200 && bytes === 2048 ? 0 : 1);
})().catch((error) => { console.error(error); process.exit(1); });
" || { echo "FAIL: uberdog did not register and log in" >&2; docker logs --tail 30 "$uberdog" >&2; exit 1; }
echo "== the cluster came up healthy"

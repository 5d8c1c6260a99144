# One image for every Overworld service: the workspace as installed by `pnpm install` on the build
# machine (node_modules included, so the build needs no network), run with tsx.
FROM node:20
WORKDIR /app
COPY . /app
# the browser bundles (the demo's canvas client uberdog serves at /play/), with the esbuild installed above
RUN node --import tsx scripts/build-web.ts
ENV NODE_ENV=production
# Which service to run: `docker compose` passes it as the command, e.g. services/state-server/src/main.ts
ENTRYPOINT ["node", "--import", "tsx"]

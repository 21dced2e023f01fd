# raftkv in a container (design.md §10). One node per container; the container's ports are
# always 7001 (clients) and 7101 (peers), whatever its id.
#
#   docker build -t raftkv:local .
#   docker run --rm -p 7001:7001 -v raftkv-data:/data raftkv:local      # a one-node cluster
#
# Five nodes: docker-compose.yml; Kubernetes: deploy/kubernetes/.

# Build: every dependency (TypeScript included), then compile to dist/.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# No scripts: `prepare` would compile before the sources are here. The native modules (LevelDB,
# msgpackr) ship prebuilt binaries, which load without an install step.
RUN npm ci --ignore-scripts
COPY . .
RUN npx tsc -p tsconfig.json

# Run: production dependencies and the compiled code only, as the unprivileged `node` user.
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY --from=build /app/dist ./dist
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 7001 7101
# Liveness on /healthz, not /readyz: a node without a leader is alive and must stay up to elect
# one; restarting it for not being ready would keep a cluster that lost its leader from recovering.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:7001/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Node's flags for a raftkv node (src/node/runtime-flags.ts), as the bin's shebang passes them.
ENTRYPOINT ["node", "--no-memory-reducer", "dist/src/cli.js"]
# --listen-host 0.0.0.0: peers and published ports reach the node on the container's addresses,
# while --members names the address others dial.
CMD ["node", "--id", "1", "--members", "1=127.0.0.1:7001:7101", "--listen-host", "0.0.0.0", "--data-dir", "/data"]

# OpenTrail in a container (docs/install.md). Not built or run by the tests: the machine they run
# on has no container engine.
#   docker build -t opentrail .
#   docker run --init -p 4580:4580 -v opentrail-data:/data opentrail
# In the image OpenTrail runs its TypeScript sources directly, as a checkout does (they are not
# under node_modules, so Node strips their types); only the runtime dependencies are installed.
FROM node:24-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# `prepare` runs scripts/build-console.js, which finds no Vite here and builds nothing.
COPY scripts/build-console.js ./scripts/
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# The web console (docs/console.md), built with the dev dependencies, which the image leaves out.
FROM node:24-slim AS console
WORKDIR /app
COPY package.json package-lock.json ./
COPY scripts/build-console.js ./scripts/
COPY console ./console
RUN npm ci --no-audit --no-fund

FROM node:24-slim
ENV NODE_ENV=production \
    OPENTRAIL_HOST=0.0.0.0 \
    OPENTRAIL_PORT=4580 \
    OPENTRAIL_DATA_DIR=/data
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json opentrail.schema.json LICENSE README.md ./
COPY bin ./bin
COPY src ./src
COPY docs ./docs
COPY --from=console /app/console/dist ./console/dist
# The data dir belongs to the unprivileged user the server runs as (the image's `node`, uid 1000).
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
# The API (and, when configured, gateway.port and metrics.port: publish those too).
EXPOSE 4580
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.OPENTRAIL_PORT || 4580) + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "bin/opentrail.js"]
CMD ["serve"]

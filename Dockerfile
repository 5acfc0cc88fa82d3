# The csbs image: `csbs controller` for the Deployment and `csbs mover ...` for backup/restore Jobs.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
COPY src src
COPY test test
COPY bench bench
RUN npm ci && npm prune --omit=dev

FROM node:24-bookworm-slim
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/dist/src dist/src
COPY crds crds
RUN ln -s /app/dist/src/main.js /usr/local/bin/csbs && chmod +x /app/dist/src/main.js
# Non-root by default; block-device Jobs override it with runAsUser 0 and no capabilities.
USER 65532:65532
ENTRYPOINT []
CMD ["csbs", "controller"]

# Parley: one image for every role. `docker run parley` runs role all (as `npm start` does);
# arguments choose the role: `docker run parley serve --role api` (or `--role worker`).
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
COPY prisma ./prisma
COPY prisma.config.ts codegen.ts schema.graphql ./
COPY tools ./tools
# Dev dependencies stay: Parley runs its TypeScript with tsx, and postinstall generates the
# Prisma client (no native engine is downloaded: see tools/no-schema-engine.sh).
RUN npm ci --include=dev --no-audit --no-fund
COPY src ./src
COPY scripts ./scripts
EXPOSE 4000
# `node --import tsx` rather than the tsx CLI: the CLI would run Parley in a child process of
# its own, and SIGTERM from `docker stop` (graceful shutdown: sockets closed with 1012) would
# reach the wrapper, not Parley.
ENTRYPOINT ["node", "--import", "tsx", "src/main.ts"]
CMD []

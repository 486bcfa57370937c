# Parley: one image for API nodes (and, later, workers).
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
CMD ["npx", "tsx", "src/main.ts"]

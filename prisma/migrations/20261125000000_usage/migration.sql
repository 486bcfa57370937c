-- Usage (issue 7): per-app hourly counters, active users, and the rollup's watermark.

-- Per app and UTC hour. Messages and webhook counts are added by the worker's rollup (once per
-- row of the source tables, see usage.store.ts rollUp); peak_sockets is raised by every API node's
-- sampler (GREATEST). No foreign keys: these are billing records, kept whatever is deleted.
CREATE TABLE "usage_hour" (
    "app_id" TEXT NOT NULL,
    "hour" TIMESTAMPTZ(3) NOT NULL,
    "tenant_id" TEXT NOT NULL,
    "messages" INTEGER NOT NULL DEFAULT 0,
    "webhook_deliveries" INTEGER NOT NULL DEFAULT 0,
    "webhook_attempts" INTEGER NOT NULL DEFAULT 0,
    "webhook_attempts_succeeded" INTEGER NOT NULL DEFAULT 0,
    "webhook_dead_letters" INTEGER NOT NULL DEFAULT 0,
    "peak_sockets" INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT "usage_hour_pkey" PRIMARY KEY ("app_id", "hour")
);
CREATE INDEX "usage_hour_tenant_id_hour_idx" ON "usage_hour"("tenant_id", "hour");

-- The tenant's own concurrent-socket peak per hour (not the sum of its apps' peaks).
CREATE TABLE "usage_tenant_hour" (
    "tenant_id" TEXT NOT NULL,
    "hour" TIMESTAMPTZ(3) NOT NULL,
    "peak_sockets" INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT "usage_tenant_hour_pkey" PRIMARY KEY ("tenant_id", "hour")
);

-- One row per user per UTC hour in which they were active (a request, a socket held, a message
-- sent). Kept only as long as HOUR queries reach (31 days: the rollup prunes older rows, by the
-- key's leading hour); DAY buckets and monthly actives read usage_active_user_day.
CREATE TABLE "usage_active_user" (
    "hour" TIMESTAMPTZ(3) NOT NULL,
    "app_id" TEXT NOT NULL,
    "user_id" TEXT NOT NULL,
    "tenant_id" TEXT NOT NULL,
    CONSTRAINT "usage_active_user_pkey" PRIMARY KEY ("hour", "app_id", "user_id")
);
CREATE INDEX "usage_active_user_tenant_id_hour_idx" ON "usage_active_user"("tenant_id", "hour");

-- The same per UTC day (written with the hourly row), kept 400 days.
CREATE TABLE "usage_active_user_day" (
    "day" TIMESTAMPTZ(3) NOT NULL,
    "app_id" TEXT NOT NULL,
    "user_id" TEXT NOT NULL,
    "tenant_id" TEXT NOT NULL,
    CONSTRAINT "usage_active_user_day_pkey" PRIMARY KEY ("day", "app_id", "user_id")
);
CREATE INDEX "usage_active_user_day_tenant_id_day_idx" ON "usage_active_user_day"("tenant_id", "day");

-- The rollup's watermark: every source row before rolled_until is in usage_hour. One row.
CREATE TABLE "usage_rollup" (
    "id" INTEGER NOT NULL,
    "rolled_until" TIMESTAMPTZ(3) NOT NULL,
    CONSTRAINT "usage_rollup_pkey" PRIMARY KEY ("id")
);
-- Nothing to count before the first tenant existed (the tenant table is small: no big scan).
INSERT INTO "usage_rollup" ("id", "rolled_until")
SELECT 1, date_trunc('hour', COALESCE((SELECT min("created_at") FROM "tenant"), CURRENT_TIMESTAMP));

-- The rollup reads attempts by time, and dead letters by when they died.
CREATE INDEX "webhook_attempt_at_idx" ON "webhook_attempt"("at");
CREATE INDEX "webhook_delivery_failed_at_idx" ON "webhook_delivery"("failed_at") WHERE "status" = 'FAILED';

-- Webhooks (issue 6): endpoints per app, one delivery row per event and endpoint (written in
-- the event's transaction), and the log of every attempt. The queue that runs the attempts is
-- pg-boss, in its own schema, which it creates and migrates itself.

CREATE TYPE "WebhookEndpointStatus" AS ENUM ('ENABLED', 'DISABLED');
CREATE TYPE "WebhookDeliveryStatus" AS ENUM ('PENDING', 'SUCCEEDED', 'FAILED');

CREATE TABLE "webhook_endpoint" (
    "id" TEXT NOT NULL,
    "app_id" TEXT NOT NULL,
    "url" TEXT NOT NULL,
    "events" TEXT[],
    "description" TEXT,
    "status" "WebhookEndpointStatus" NOT NULL DEFAULT 'ENABLED',
    "disabled_reason" TEXT,
    "failing_since" TIMESTAMPTZ(3),
    "secret" TEXT NOT NULL,
    "previous_secret" TEXT,
    "previous_secret_expires_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "webhook_endpoint_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "webhook_endpoint_app_id_fkey" FOREIGN KEY ("app_id") REFERENCES "app"("id") ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE INDEX "webhook_endpoint_app_id_created_at_id_idx" ON "webhook_endpoint"("app_id", "created_at", "id");
-- The write path asks, per event, for the app's enabled endpoints.
CREATE INDEX "webhook_endpoint_enabled_idx" ON "webhook_endpoint"("app_id") WHERE "status" = 'ENABLED';

CREATE TABLE "webhook_delivery" (
    "id" TEXT NOT NULL,
    "endpoint_id" TEXT NOT NULL,
    "app_id" TEXT NOT NULL,
    "event_type" TEXT NOT NULL,
    "conversation_id" TEXT,
    "seq" INTEGER,
    "payload" JSONB NOT NULL,
    "status" "WebhookDeliveryStatus" NOT NULL DEFAULT 'PENDING',
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "round_start" INTEGER NOT NULL DEFAULT 0,
    "next_attempt_at" TIMESTAMPTZ(3),
    "claimed_at" TIMESTAMPTZ(3),
    "last_status" INTEGER,
    "last_error" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "delivered_at" TIMESTAMPTZ(3),
    "failed_at" TIMESTAMPTZ(3),
    CONSTRAINT "webhook_delivery_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "webhook_delivery_endpoint_id_fkey" FOREIGN KEY ("endpoint_id") REFERENCES "webhook_endpoint"("id") ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE INDEX "webhook_delivery_endpoint_id_created_at_id_idx" ON "webhook_delivery"("endpoint_id", "created_at", "id");
CREATE INDEX "webhook_delivery_app_id_status_created_at_id_idx" ON "webhook_delivery"("app_id", "status", "created_at", "id");
-- Order within a lane (an earlier delivery in flight?), and the sweep for deliveries whose job was lost.
CREATE INDEX "webhook_delivery_pending_lane_idx" ON "webhook_delivery"("endpoint_id", "conversation_id", "seq") WHERE "status" = 'PENDING';
CREATE INDEX "webhook_delivery_pending_idx" ON "webhook_delivery"("updated_at") WHERE "status" = 'PENDING';

CREATE TABLE "webhook_attempt" (
    "delivery_id" TEXT NOT NULL,
    "attempt" INTEGER NOT NULL,
    "at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "status" INTEGER,
    "error" TEXT,
    "response_snippet" TEXT,
    "duration_ms" INTEGER NOT NULL,
    CONSTRAINT "webhook_attempt_pkey" PRIMARY KEY ("delivery_id", "attempt"),
    CONSTRAINT "webhook_attempt_delivery_id_fkey" FOREIGN KEY ("delivery_id") REFERENCES "webhook_delivery"("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- The event log becomes the outbox that the relay publishes from (docs/ARCHITECTURE.md).
-- Events written before the relay existed were published right after their commit: they are
-- marked published, so that no node replays history onto the bus when it first starts.
UPDATE "conversation_event" SET "published_at" = "created_at" WHERE "published_at" IS NULL;

-- The relay's work list: only unpublished rows are indexed, so it stays a handful of entries.
CREATE INDEX "conversation_event_unpublished_idx" ON "conversation_event" ("created_at") WHERE "published_at" IS NULL;

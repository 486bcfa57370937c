-- The event log becomes the outbox that the relay publishes from (docs/ARCHITECTURE.md).
-- Events written before the relay existed were published right after their commit: they are
-- marked published, so that no node replays history onto the bus when it first starts.
UPDATE "conversation_event" SET "published_at" = "created_at" WHERE "published_at" IS NULL;

-- The relay's work lists: only unpublished rows are indexed, so they stay a handful of
-- entries. The oldest first, for the sweep; per conversation in seq order, for each batch.
CREATE INDEX "conversation_event_unpublished_idx" ON "conversation_event" ("created_at") WHERE "published_at" IS NULL;
CREATE INDEX "conversation_event_unpublished_seq_idx" ON "conversation_event" ("conversation_id", "seq") WHERE "published_at" IS NULL;

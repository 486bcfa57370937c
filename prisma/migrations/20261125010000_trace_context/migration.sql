-- Tracing (issue 7): the W3C trace context of the transaction that wrote an event or a webhook
-- delivery, so that the relay and the webhook worker (maybe on another node, maybe after a
-- crash) continue its trace. The transaction sets `parley.trace_context` (set_config, local to
-- it) only when tracing is on; otherwise the setting is unset (or '' once a transaction of the
-- session has set it) and the column stays NULL. No write of its own: the default fills it.
ALTER TABLE "conversation_event" ADD COLUMN "trace_context" TEXT DEFAULT NULLIF(current_setting('parley.trace_context', true), '');
ALTER TABLE "webhook_delivery" ADD COLUMN "trace_context" TEXT DEFAULT NULLIF(current_setting('parley.trace_context', true), '');

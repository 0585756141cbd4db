-- Routing a contact center runs on: what a delivery needs of the worker it is offered to, the
-- worker's ACCEPT of it, transfers between queues, and the history of every attempt.

-- Skills the worker must have (all of them) and skills that rank eligible workers (the more
-- the better), from the routing rule, and the language the worker must read: the message's, or
-- the one detected from its body (interactions.language keeps only what the gateway said).
-- No skills is NULL, not an empty array: most deliveries have none, and a NULL costs the row a
-- bit where an empty array costs it bytes, in the table written once per message.
ALTER TABLE deliveries
    ADD COLUMN language text,
    ADD COLUMN required_skills text[],
    ADD COLUMN optional_skills text[],
    -- When the worker holding it sent ACCEPT (the first response), if it did.
    ADD COLUMN accepted_at timestamptz,
    -- A transferred delivery's next leg, and on that leg the one it came from (deliveries (id);
    -- no foreign key, as the other references between deliveries and interactions).
    ADD COLUMN transferred_to bigint,
    ADD COLUMN transferred_from bigint,
    ADD COLUMN transfer_reason text,
    -- Escalation steps of its queue applied so far (each also an 'escalated' event).
    ADD COLUMN escalations smallint NOT NULL DEFAULT 0,
    -- The id of the routing rule that chose its queue (routing_versions.rules -> 'rules'); NULL
    -- when the process steps did, and on a transfer's leg.
    ADD COLUMN rule_id text;

ALTER TABLE deliveries DROP CONSTRAINT deliveries_state_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_state_check
    CHECK (state IN ('pending', 'offered', 'in_progress', 'done', 'failed', 'dead', 'transferred'));
CREATE INDEX deliveries_transferred_from ON deliveries (transferred_from) WHERE transferred_from IS NOT NULL;

-- Every attempt, append-only: written in the same statement as the delivery's change of state,
-- so that first response, handle time and service level per worker and queue are computed from
-- what happened, not from the row's latest state. The hub never updates or deletes a row here.
CREATE TABLE delivery_events (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id    bigint NOT NULL,
    -- The delivery's interaction (interactions.id), so that a contact's history needs no join.
    interaction_id bigint,
    -- Copied from the delivery, so that a report by queue needs no join.
    queue          text NOT NULL,
    kind           text NOT NULL CHECK (kind IN ('offered', 'accepted', 'rejected', 'timed_out', 'retried', 'escalated',
                                                 'transferred', 'done', 'failed', 'dead', 'replayed')),
    -- The worker concerned (the one offered, accepting, answering), if any.
    worker         text,
    -- The hub that wrote it (hubs.name).
    hub            text,
    attempt        integer,
    -- What else the event carries: an outcome, a reason, the queue a transfer went to.
    detail         text,
    at             timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX delivery_events_of_delivery ON delivery_events (delivery_id, id);
-- BRIN: rows come in time order, so a block range index finds a period at a fraction of the
-- upkeep of a btree (two rows are written for every message handled).
CREATE INDEX delivery_events_at ON delivery_events USING brin (at);
COMMENT ON TABLE delivery_events IS
    'Append-only history of every delivery attempt; see docs/analytics.md for how the views use it.';

-- Dead letters by queue, for `switchboard queues` and replay: few rows, so a small index.
CREATE INDEX deliveries_dead ON deliveries (queue) WHERE state = 'dead';

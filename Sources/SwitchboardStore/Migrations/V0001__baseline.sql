-- Switchboard's schema as of v0.1.0: customers and their identities, interactions (partitioned by
-- month), the durable delivery queue, idempotency keys, quarantine, routing rule versions and the
-- hubs that share the database. Functions and views are in R__ files, one each, re-applied by
-- `switchboard migrate` whenever they change; this file, once released, never changes.

CREATE TABLE customers (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind          text NOT NULL DEFAULT 'consumer' CHECK (kind IN ('consumer', 'partner')),
    display_name  text,
    segment       text,
    value_tier    text NOT NULL DEFAULT 'standard',
    consent       jsonb NOT NULL DEFAULT '{}',
    -- True until the customer is known by more than a device or channel address (identity resolution).
    anonymous     boolean NOT NULL DEFAULT true,
    attributes    jsonb NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    erased_at     timestamptz
);

-- Normalized identities (E.164 phone, lower-cased e-mail, external id, device id); one owner each.
CREATE TABLE customer_identities (
    kind          text NOT NULL CHECK (kind IN ('phone', 'email', 'external', 'device')),
    value         text NOT NULL,
    customer_id   bigint NOT NULL REFERENCES customers (id),
    verified      boolean NOT NULL DEFAULT false,
    first_seen_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, value)
);
CREATE INDEX customer_identities_of_customer ON customer_identities (customer_id);
-- The ingest statement's probe of a hint: a hash index reaches the one bucket that can hold the
-- value however many identities there are (the kind is checked on the row). With 10 M customers
-- the hub kept 87-88 % of its empty-database ingest rate with it, 83-84 % with the primary key alone.
CREATE INDEX customer_identities_by_value ON customer_identities USING hash (value);

-- Every routing rule set the hub has run with; deliveries name the version that routed them.
CREATE TABLE routing_versions (
    id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    digest      text NOT NULL UNIQUE,
    rules       jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE SEQUENCE interactions_id_seq AS bigint;

-- Interactions are partitioned by the month the hub received them; the primary key must
-- include the partition key, so idempotency is enforced by ingest_keys instead.
CREATE TABLE interactions (
    id              bigint NOT NULL DEFAULT nextval('interactions_id_seq'),
    received_at     timestamptz NOT NULL,
    -- customers (id). No foreign key: with one on this column and on ingest_keys' and deliveries',
    -- checked row by row, `switchboard-bench --quick --sections ingest` stored 23.4-25.0 k msg/s
    -- against 35.4-36.2 k without; the ingest statement takes the id from customers itself.
    customer_id     bigint NOT NULL,
    gateway         text NOT NULL,
    message_id      text NOT NULL,
    channel         text NOT NULL,
    direction       text NOT NULL DEFAULT 'inbound' CHECK (direction IN ('inbound', 'outbound')),
    occurred_at     timestamptz NOT NULL,
    intent          text,
    process         text NOT NULL,
    language        text,
    priority        smallint NOT NULL,
    content_type    text NOT NULL,
    body_text       text,
    body_bytes      bytea,
    attributes      jsonb NOT NULL DEFAULT '{}',
    -- No foreign key to routing_versions: checked row by row it took about a third of the ingest
    -- statement's time (EXPLAIN ANALYZE: two trigger calls a message) for an id the hub read from
    -- that table at start.
    routing_version integer,
    PRIMARY KEY (id, received_at)
) PARTITION BY RANGE (received_at);
ALTER SEQUENCE interactions_id_seq OWNED BY interactions.id;
CREATE TABLE interactions_default PARTITION OF interactions DEFAULT;
-- Contact history of one customer, newest first (customer context, analytics).
CREATE INDEX interactions_history_of_customer ON interactions (customer_id, received_at DESC);

-- Idempotent ingest: one row per (gateway, message id), whatever partition the interaction is in.
CREATE TABLE ingest_keys (
    gateway        text NOT NULL,
    message_id     text NOT NULL,
    -- The interaction stored for it (see the column's comment for why it has no foreign key).
    interaction_id bigint NOT NULL,
    -- customers (id), without a foreign key for the cost given at interactions.customer_id.
    customer_id    bigint NOT NULL,
    queue          text NOT NULL,
    fingerprint    text NOT NULL,
    received_at    timestamptz NOT NULL,
    PRIMARY KEY (gateway, message_id)
);
COMMENT ON COLUMN ingest_keys.interaction_id IS
    'interactions (id, received_at), without a foreign key: a month''s partition is repaired (rows moved out of the default partition) or detached as a unit, which a reference into the partitioned table forbids';

-- The durable queue: one row per (interaction, queue) hand-over.
CREATE TABLE deliveries (
    id                      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The interaction handed over (see the column's comment for why it has no foreign key).
    interaction_id          bigint NOT NULL,
    interaction_received_at timestamptz NOT NULL,
    -- customers (id), without a foreign key for the cost given at interactions.customer_id.
    customer_id             bigint NOT NULL,
    queue                   text NOT NULL,
    state                   text NOT NULL DEFAULT 'pending'
                            CHECK (state IN ('pending', 'offered', 'in_progress', 'done', 'failed', 'dead')),
    priority                smallint NOT NULL,
    deadline                timestamptz NOT NULL,
    not_before              timestamptz,
    attempts                integer NOT NULL DEFAULT 0,
    -- A worker id as it named itself in READY: workers are not rows (they come and go by connection).
    worker                  text,
    lease_until             timestamptz,
    -- The hub holding the lease (hubs.name): no foreign key, so that a hub's row may be removed
    -- while its history stays.
    owner                   text,
    route_reason            text NOT NULL,
    -- No foreign key, as interactions.routing_version.
    routing_version         integer,
    outcome                 text,
    notes                   text,
    last_error              text,
    created_at              timestamptz NOT NULL DEFAULT now(),
    offered_at              timestamptz,
    completed_at            timestamptz
);
COMMENT ON COLUMN deliveries.interaction_id IS
    'interactions (id, received_at = interaction_received_at), without a foreign key, as ingest_keys.interaction_id';
-- The dispatch order of DESIGN §1.4: earliest deadline, then highest priority, then oldest.
CREATE INDEX deliveries_dispatch_order ON deliveries (queue, deadline, priority DESC, id) WHERE state = 'pending';
CREATE INDEX deliveries_in_flight ON deliveries (lease_until) WHERE state IN ('offered', 'in_progress');
CREATE INDEX deliveries_of_interaction ON deliveries (interaction_id);

-- Input the hub refused, kept with its raw frames so it can be inspected and replayed.
-- raw: each frame as a 4-byte big-endian length followed by its bytes.
CREATE TABLE quarantine (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at timestamptz NOT NULL DEFAULT now(),
    role        text NOT NULL CHECK (role IN ('gateway', 'worker')),
    -- A gateway or worker name as it reached the hub; peers are not rows.
    peer        text NOT NULL,
    message_id  text,
    code        text NOT NULL,
    reason      text NOT NULL,
    frame_count integer NOT NULL,
    raw         bytea NOT NULL,
    replayed_at timestamptz
);
CREATE INDEX quarantine_recent ON quarantine (received_at DESC);

-- Each hub's last start and clean stop. A hub that finds its own row started and not stopped
-- knows its previous run died: offers it made may never have been written, so workers are given
-- one heartbeat timeout to reclaim what they hold before anything is offered.
CREATE TABLE hubs (
    name        text PRIMARY KEY,
    started_at  timestamptz NOT NULL,
    stopped_at  timestamptz
);

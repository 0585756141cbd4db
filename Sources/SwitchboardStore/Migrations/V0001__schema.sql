-- Switchboard schema, version 1: customers, identities, interactions (partitioned by month),
-- the durable delivery queue, idempotency keys, quarantine and versioned routing rules.

CREATE TABLE customers (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind          text NOT NULL DEFAULT 'consumer' CHECK (kind IN ('consumer', 'partner')),
    display_name  text,
    segment       text,
    value_tier    text NOT NULL DEFAULT 'standard',
    consent       jsonb NOT NULL DEFAULT '{}',
    -- True until the customer is known by more than a device or channel address (see identity resolution).
    anonymous     boolean NOT NULL DEFAULT true,
    attributes    jsonb NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    erased_at     timestamptz
);

CREATE TABLE customer_identities (
    kind          text NOT NULL CHECK (kind IN ('phone', 'email', 'external', 'device')),
    value         text NOT NULL,
    customer_id   bigint NOT NULL REFERENCES customers (id),
    verified      boolean NOT NULL DEFAULT false,
    first_seen_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, value)
);
CREATE INDEX customer_identities_of_customer ON customer_identities (customer_id);

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
    routing_version integer REFERENCES routing_versions (id),
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
    interaction_id bigint NOT NULL,
    customer_id    bigint NOT NULL,
    queue          text NOT NULL,
    fingerprint    text NOT NULL,
    received_at    timestamptz NOT NULL,
    PRIMARY KEY (gateway, message_id)
);

-- The durable queue: one row per (interaction, queue) hand-over.
CREATE TABLE deliveries (
    id                      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    interaction_id          bigint NOT NULL,
    interaction_received_at timestamptz NOT NULL,
    customer_id             bigint NOT NULL,
    queue                   text NOT NULL,
    state                   text NOT NULL DEFAULT 'pending'
                            CHECK (state IN ('pending', 'offered', 'in_progress', 'done', 'failed', 'dead')),
    priority                smallint NOT NULL,
    deadline                timestamptz NOT NULL,
    not_before              timestamptz,
    attempts                integer NOT NULL DEFAULT 0,
    worker                  text,
    lease_until             timestamptz,
    -- The hub instance holding the lease (several hubs may share one database later).
    owner                   text,
    route_reason            text NOT NULL,
    routing_version         integer REFERENCES routing_versions (id),
    outcome                 text,
    notes                   text,
    last_error              text,
    created_at              timestamptz NOT NULL DEFAULT now(),
    offered_at              timestamptz,
    completed_at            timestamptz
);
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
    peer        text NOT NULL,
    message_id  text,
    code        text NOT NULL,
    reason      text NOT NULL,
    frame_count integer NOT NULL,
    raw         bytea NOT NULL,
    replayed_at timestamptz
);
CREATE INDEX quarantine_recent ON quarantine (received_at DESC);

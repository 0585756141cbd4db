-- Two-way: conversations (threads of one customer issue, inbound and outbound), the durable
-- outbound queue (replies and campaign messages on their way to a gateway), campaigns with their
-- targets and responses, and every change of a customer's consent.

-- One customer issue on one channel. A message with a thread hint (an e-mail's thread root, a
-- chat session) joins the open conversation of that hint or opens one; a message without one
-- joins its customer's open conversation on the channel, if there is one. A worker's REPLY opens
-- one for a message that had none. The worker who replied last owns it: the customer's
-- follow-ups are offered to that worker first while the conversation is open. It closes on a
-- resolution (DONE with a resolution, REPLY with close) or after conversations.idle_close_minutes.
CREATE TABLE conversations (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id          bigint NOT NULL REFERENCES customers (id),
    channel              text NOT NULL,
    -- The gateway's thread hint; none for channels without threads (SMS, phone).
    thread               text,
    -- The gateway of the message that opened it: replies go back through it first.
    gateway              text NOT NULL,
    -- interactions (id), without a foreign key, as ingest_keys.interaction_id.
    first_interaction_id bigint,
    -- A worker id as it named itself in READY (workers are not rows).
    owner_worker         text,
    state                text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closed')),
    opened_at            timestamptz NOT NULL,
    last_activity_at     timestamptz NOT NULL,
    closed_at            timestamptz,
    -- resolved, replied_close, inactive, erased
    closed_reason        text
);
CREATE UNIQUE INDEX conversations_open_thread ON conversations (channel, thread) WHERE state = 'open' AND thread IS NOT NULL;
CREATE INDEX conversations_open_of_customer ON conversations (customer_id, channel) WHERE state = 'open';
CREATE INDEX conversations_idle ON conversations (last_activity_at) WHERE state = 'open';

-- conversations (id), without a foreign key: interactions take none (see interactions.customer_id).
ALTER TABLE interactions ADD COLUMN conversation_id bigint;
CREATE INDEX interactions_of_conversation ON interactions (conversation_id) WHERE conversation_id IS NOT NULL;

-- A marketing campaign (switchboard campaign create FILE): whom it targets, through which
-- channel, with what message per language, when it may reach them, and what counts as success.
CREATE TABLE campaigns (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name             text NOT NULL UNIQUE,
    state            text NOT NULL DEFAULT 'draft' CHECK (state IN ('draft', 'running', 'paused', 'finished')),
    -- message: outbound messages through the channel; task: a task per target in `queue`
    -- (an outbound call for a sales agent).
    mode             text NOT NULL CHECK (mode IN ('message', 'task')),
    channel          text NOT NULL,
    queue            text,
    -- Rules over kind, value tier, segment, attributes, last contact and lifecycle (docs/campaigns.md).
    target           jsonb NOT NULL DEFAULT '{}',
    -- {"en": "...", "fa": "..."}: the customer's language picks one, else default_language's.
    templates        jsonb NOT NULL,
    default_language text NOT NULL,
    -- The contact window, in the customer's time zone (attribute time_zone) else this one.
    time_zone        text NOT NULL DEFAULT 'UTC',
    window_days      smallint[] NOT NULL DEFAULT '{1,2,3,4,5}',
    window_start     time NOT NULL DEFAULT '09:00',
    window_end       time NOT NULL DEFAULT '18:00',
    -- An inbound contact within this many days of the campaign's is its response.
    response_days    smallint NOT NULL DEFAULT 7,
    -- DONE outcomes that make a response (or a campaign task) a conversion.
    conversion_outcomes text[] NOT NULL DEFAULT '{converted,sale}',
    -- Targets contacted per pass at most (a pass runs every campaigns.every_ms).
    batch_size       integer NOT NULL DEFAULT 500,
    created_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    paused_at        timestamptz,
    CHECK ((mode = 'task') = (queue IS NOT NULL))
);

-- Each customer a campaign reached or passed over, and what came of it.
CREATE TABLE campaign_targets (
    campaign_id      bigint NOT NULL REFERENCES campaigns (id),
    customer_id      bigint NOT NULL REFERENCES customers (id),
    state            text NOT NULL CHECK (state IN ('contacted', 'skipped')),
    -- Why it was skipped: opted_out, do_not_contact, no_consent, no_address, no_template.
    skip_reason      text,
    language         text,
    contacted_at     timestamptz NOT NULL,
    -- outbound_messages (id) for a message campaign, deliveries (id) for a task campaign.
    outbound_id      bigint,
    delivery_id      bigint,
    -- The first inbound contact within response_days (interactions (id), no foreign key as above).
    response_interaction_id bigint,
    responded_at     timestamptz,
    converted_at     timestamptz,
    opted_out_at     timestamptz,
    PRIMARY KEY (campaign_id, customer_id)
);
CREATE INDEX campaign_targets_of_customer ON campaign_targets (customer_id, contacted_at DESC);
CREATE INDEX campaign_targets_by_time ON campaign_targets (campaign_id, contacted_at);

-- The durable outbound queue: a worker's REPLY or a campaign's message, on its way to a gateway
-- serving its channel (the preferred one first). pending → sending (DELIVER out, leased to a hub)
-- → sent | pending again (UNDELIVERABLE with retry_after_ms, no answer, no gateway; with backoff)
-- | dead (UNDELIVERABLE for good, expired, too many attempts; replayable) | cancelled (a
-- campaign message to a customer who opted out meanwhile).
CREATE TABLE outbound_messages (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Given to the gateway with every DELIVER of this message: it sends a key once.
    idempotency_key     uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    -- What made it: reply:<delivery id>:<reply id> or campaign:<campaign id>:<customer id>; one row each.
    source_key          text NOT NULL UNIQUE,
    customer_id         bigint NOT NULL REFERENCES customers (id),
    -- The outbound interaction it is (interactions (id, received_at)), no foreign key as above.
    interaction_id      bigint NOT NULL,
    interaction_received_at timestamptz NOT NULL,
    conversation_id     bigint REFERENCES conversations (id),
    -- The delivery it answers (a REPLY), or the campaign it is part of.
    delivery_id         bigint REFERENCES deliveries (id),
    campaign_id         bigint REFERENCES campaigns (id),
    -- A worker id (REPLY), or campaign:<name>.
    author              text NOT NULL,
    channel             text NOT NULL,
    -- The gateway to try first (the one the customer wrote through), and the one that sent it.
    preferred_gateway   text,
    gateway             text,
    -- The gateway's message id this answers (for e-mail In-Reply-To), and the thread hint.
    in_reply_to         text,
    thread              text,
    language            text,
    priority            smallint NOT NULL DEFAULT 0,
    content_type        text NOT NULL,
    body_text           text,
    body_bytes          bytea,
    state               text NOT NULL DEFAULT 'pending'
                        CHECK (state IN ('pending', 'sending', 'sent', 'dead', 'cancelled')),
    attempts            integer NOT NULL DEFAULT 0,
    not_before          timestamptz,
    -- The hub that sent the DELIVER now in flight, until when (hubs.name; no foreign key, as deliveries.owner).
    owner               text,
    lease_until         timestamptz,
    expires_at          timestamptz NOT NULL,
    last_error          text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    sent_at             timestamptz,
    -- The gateway's own reference for the sent message (a provider id), if it gave one.
    gateway_reference   text,
    dead_at             timestamptz
);
CREATE INDEX outbound_messages_ready ON outbound_messages (channel, priority DESC, id) WHERE state = 'pending';
CREATE INDEX outbound_messages_leased ON outbound_messages (lease_until) WHERE state = 'sending';
CREATE INDEX outbound_messages_of_customer ON outbound_messages (customer_id, created_at DESC);
CREATE INDEX outbound_messages_of_campaign ON outbound_messages (campaign_id) WHERE campaign_id IS NOT NULL;

-- Every change of a customer's consent, with where it came from: an inbound STOP (opt_out, with
-- its interaction), a worker's DONE, an import, an operator.
CREATE TABLE consent_changes (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id    bigint NOT NULL REFERENCES customers (id),
    purpose        text NOT NULL,
    granted        boolean NOT NULL,
    source         text NOT NULL,
    channel        text,
    -- interactions (id), no foreign key as above.
    interaction_id bigint,
    changed_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX consent_changes_of_customer ON consent_changes (customer_id, changed_at DESC);

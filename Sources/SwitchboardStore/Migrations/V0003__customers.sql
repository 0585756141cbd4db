-- One customer database: channel handles as identities, hints kept when they do not normalize,
-- and partners through the same door as consumers.

-- Fax numbers (E.164, as phones), chat handles (a chat's visitor or user id, as given) and social
-- handles ("network:handle", lower-cased) identify customers as the other kinds do.
ALTER TABLE customer_identities DROP CONSTRAINT customer_identities_kind_check;
ALTER TABLE customer_identities ADD CONSTRAINT customer_identities_kind_check
    CHECK (kind IN ('phone', 'email', 'external', 'device', 'fax', 'chat', 'social'));

-- A hint that did not normalize (a phone hint "call me", an e-mail without a domain), as the
-- gateway wrote it, on the customer the message was stored under. The message is stored and
-- ACKed all the same; these values never link customers (two people may type the same thing),
-- so they have no unique key: an agent or an import corrects them into real identities.
CREATE TABLE customer_unverified_identities (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id     bigint NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('phone', 'email', 'external', 'device', 'fax', 'chat', 'social')),
    value           text NOT NULL,
    -- interactions (id) of the message that carried it; no foreign key into the partitioned table.
    interaction_id  bigint NOT NULL,
    seen_at         timestamptz NOT NULL
);
CREATE INDEX customer_unverified_identities_of_customer ON customer_unverified_identities (customer_id);

-- What was done to a customer's record by hand or by rule (erasure now; merges later): who, when,
-- and what it came to. Rows are never changed.
CREATE TABLE customer_audit (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id  bigint NOT NULL,
    action       text NOT NULL CHECK (action IN ('erased')),
    actor        text NOT NULL,
    detail       jsonb NOT NULL DEFAULT '{}',
    at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX customer_audit_of_customer ON customer_audit (customer_id, id);

-- Each import of external customer data (switchboard import customers): its source, the file's
-- digest (an import of the same file from the same source is not applied twice) and its counts.
CREATE TABLE customer_imports (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source       text NOT NULL,
    digest       text NOT NULL,
    rows         integer NOT NULL,
    created      integer NOT NULL,
    matched      integer NOT NULL,
    imported_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (source, digest)
);

-- Where each imported attribute of a customer came from, and when: the value is also in
-- customers.attributes (or segment, value_tier, kind, consent), where routing and the views read it.
CREATE TABLE customer_attribute_sources (
    customer_id  bigint NOT NULL,
    key          text NOT NULL,
    value        text NOT NULL,
    source       text NOT NULL,
    import_id    bigint NOT NULL,
    imported_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (customer_id, key)
);

-- The value of each customer with contacts in the scoring window, as last computed
-- (swb_compute_value_tiers): recency, frequency and monetary value, each scored 1-5 by the
-- customer's place among the others, their sum and the tier it gave (also written to
-- customers.value_tier, where routing reads it), and the effort the customer spent on us:
-- contacts that repeated one within a week.
CREATE TABLE customer_value (
    customer_id      bigint PRIMARY KEY,
    recency_days     integer NOT NULL,
    frequency        integer NOT NULL,
    monetary         numeric NOT NULL,
    recency_score    smallint NOT NULL,
    frequency_score  smallint NOT NULL,
    monetary_score   smallint NOT NULL,
    score            smallint NOT NULL,
    tier             text NOT NULL,
    repeat_contacts  integer NOT NULL,
    computed_at      timestamptz NOT NULL
);

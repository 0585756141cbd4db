-- Feedback and complaints: what customers say of us, explicitly (a score, a survey, a return, a
-- complaint) or as signals drawn from their contacts (a repeat contact, silence after a
-- complaint, a risk of leaving), and the customer's view of us as a second axis beside value.

-- Explicit feedback, from a gateway's message (PUBLISH feedback: source 'message', the message
-- is interaction_id and its body the comment) or from a worker's DONE (source 'worker': what the
-- customer said to the agent, delivery_id the task). about_interaction_id is the contact it
-- rates: the one the message names, else for a worker's the task's own.
CREATE TABLE feedback (
    id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id           bigint NOT NULL,
    source                text NOT NULL CHECK (source IN ('message', 'worker')),
    type                  text NOT NULL CHECK (type IN ('csat', 'nps', 'survey', 'return', 'complaint')),
    -- csat and survey 1-5, nps 0-10; none for a return or a complaint.
    score                 smallint,
    category              text,
    answers               jsonb,
    -- interactions (id); no foreign keys into the partitioned table.
    interaction_id        bigint NOT NULL,
    about_interaction_id  bigint,
    delivery_id           bigint,
    worker                text,
    -- The process of the contact it is about, as routed: what dissatisfaction is charged to.
    process               text NOT NULL,
    channel               text NOT NULL,
    received_at           timestamptz NOT NULL
);
CREATE INDEX feedback_of_customer ON feedback (customer_id, received_at DESC);
CREATE INDEX feedback_by_time ON feedback (received_at);

-- A complaint's life: opened by a complaint (a message's or a worker's), resolved by a worker's
-- DONE with a resolution (on the complaint's own task, or naming the complaint) or by
-- `switchboard complaint resolve`.
CREATE TABLE complaints (
    id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id           bigint NOT NULL,
    feedback_id           bigint NOT NULL REFERENCES feedback (id),
    -- The contact that carried the complaint, and the process it was routed to.
    interaction_id        bigint NOT NULL,
    process               text NOT NULL,
    category              text NOT NULL,
    status                text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
    opened_at             timestamptz NOT NULL,
    resolved_at           timestamptz,
    resolution            text,
    -- Who resolved it: a worker (and its delivery), or an operator through the CLI.
    resolved_by           text,
    resolved_by_delivery  bigint,
    CHECK ((status = 'open') = (resolved_at IS NULL))
);
CREATE INDEX complaints_of_customer ON complaints (customer_id, opened_at DESC);
CREATE INDEX complaints_of_interaction ON complaints (interaction_id) WHERE status = 'open';
CREATE INDEX complaints_by_time ON complaints (opened_at);

-- Signals drawn from the contacts on a schedule (swb_compute_signals): 'repeat_contact' (a
-- contact on the same process and intent as one within the last repeat_days: the first did not
-- settle it; key: the repeating interaction), 'silent_after_complaint' (no contact for
-- silence_days after a complaint; key: the complaint), 'churn_risk' (the customer's risk reached
-- the threshold; key: the customer; cleared_at set when it falls back). Raised once per key.
CREATE TABLE customer_signals (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id  bigint NOT NULL,
    signal       text NOT NULL CHECK (signal IN ('repeat_contact', 'silent_after_complaint', 'churn_risk')),
    key          bigint NOT NULL,
    process      text,
    score        numeric,
    detail       jsonb NOT NULL DEFAULT '{}',
    detected_at  timestamptz NOT NULL,
    cleared_at   timestamptz,
    UNIQUE (signal, key)
);
CREATE INDEX customer_signals_of_customer ON customer_signals (customer_id, detected_at DESC);

-- The customer's view of us, as last computed (swb_compute_signals), beside customer_value's
-- view of the customer: satisfaction (the mean of their scores on a 0-100 scale), complaints,
-- effort (repeat contacts), days since they last contacted us, and from these an experience
-- score 1 (unhappy) to 5 and a churn risk 0 to 1.
CREATE TABLE customer_experience (
    customer_id         bigint PRIMARY KEY,
    contacts            integer NOT NULL,
    ratings             integer NOT NULL,
    satisfaction        numeric,
    complaints          integer NOT NULL,
    open_complaints     integer NOT NULL,
    repeat_contacts     integer NOT NULL,
    days_since_contact  integer NOT NULL,
    experience_score    smallint NOT NULL,
    churn_risk          numeric(3, 2) NOT NULL,
    computed_at         timestamptz NOT NULL
);

-- A worker's DONE may update a customer's attributes: their source is the worker, without an import.
ALTER TABLE customer_attribute_sources ALTER COLUMN import_id DROP NOT NULL;

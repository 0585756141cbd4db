-- Merges that are safe: two customers linked by one message are merged when that is unambiguous
-- (one is anonymous, or the configured rules say so) and otherwise put in a review queue; every
-- merge keeps what it needs to be undone exactly.

-- An absorbed customer points at its survivor while merged; its row stays so that an unmerge
-- gives it back under its own id.
ALTER TABLE customers ADD COLUMN merged_into bigint;

ALTER TABLE customer_audit DROP CONSTRAINT customer_audit_action_check;
ALTER TABLE customer_audit ADD CONSTRAINT customer_audit_action_check CHECK (action IN ('erased', 'merged', 'unmerged', 'dismissed'));

-- Pairs of customers one message linked (its hints named both): written by the ingest statement
-- (customer_a the one the message was stored under, the lower id), decided by the hub's merge
-- pass (swb_process_merge_candidates): 'merged' at once when unambiguous, else 'review' until an
-- operator merges or dismisses the pair (switchboard customer review). A dismissed pair is never
-- proposed again.
CREATE TABLE customer_merge_candidates (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_a      bigint NOT NULL,
    customer_b      bigint NOT NULL,
    -- The message that linked them (interactions (id)), and its gateway; none for a pair an
    -- operator declared distinct by undoing its merge.
    interaction_id  bigint,
    gateway         text,
    status          text NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'review', 'merged', 'dismissed')),
    detected_at     timestamptz NOT NULL,
    decided_at      timestamptz,
    decided_by      text,
    -- Why it was decided so: one_anonymous, same_name, gateway, ambiguous, erased, dismissed_before, ...
    reason          text,
    merge_id        bigint,
    CHECK (customer_a < customer_b)
);
CREATE UNIQUE INDEX customer_merge_candidates_open_pair ON customer_merge_candidates (customer_a, customer_b)
    WHERE status IN ('new', 'review');
CREATE INDEX customer_merge_candidates_new ON customer_merge_candidates (id) WHERE status = 'new';
CREATE INDEX customer_merge_candidates_pair ON customer_merge_candidates (customer_a, customer_b);

-- Every merge: who survived, who was absorbed, by whom and why, the field conflicts and how each
-- was decided, both customers' rows as they were (before), and every row that moved (moved), so
-- that `switchboard customer unmerge` restores both exactly.
CREATE TABLE customer_merges (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    survivor_id  bigint NOT NULL,
    absorbed_id  bigint NOT NULL,
    actor        text NOT NULL,
    reason       text NOT NULL,
    conflicts    jsonb NOT NULL DEFAULT '{}',
    before       jsonb NOT NULL,
    moved        jsonb NOT NULL,
    merged_at    timestamptz NOT NULL DEFAULT now(),
    unmerged_at  timestamptz,
    unmerged_by  text
);
CREATE INDEX customer_merges_of_absorbed ON customer_merges (absorbed_id) WHERE unmerged_at IS NULL;
CREATE INDEX customer_merges_of_survivor ON customer_merges (survivor_id);
CREATE INDEX customers_merged_into ON customers (merged_into) WHERE merged_into IS NOT NULL;

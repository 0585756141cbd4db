-- Several hubs on one database (docs/scaling.md). A pending delivery belongs to one hub, the one
-- that holds it in memory and alone may offer it: the hub that stored it (the column's default
-- reads the hub's session setting `switchboard.hub`; a row written by a tool has none), or the
-- hub whose refill claimed it while it had no owner, or the hub that adopted its owner. A hub
-- proves it is alive by renewing `seen_at` within `lease_ms`; one that stopped, or whose lease
-- ran out, is adopted by exactly one other hub (`adopted_by`), which takes over every delivery it
-- owned that is not finished.
ALTER TABLE deliveries ALTER COLUMN owner SET DEFAULT nullif(current_setting('switchboard.hub', true), '');
COMMENT ON COLUMN deliveries.owner IS
    'The hub (hubs.name) holding the delivery: pending, the one that may offer it; offered or in progress, the one whose worker holds it. NULL: any hub may claim it.';

ALTER TABLE hubs
    ADD COLUMN seen_at    timestamptz,
    ADD COLUMN lease_ms   integer,
    ADD COLUMN adopted_by text,
    ADD COLUMN adopted_at timestamptz;
COMMENT ON COLUMN hubs.seen_at IS 'The hub''s last renewal of its lease; past seen_at + lease_ms another hub adopts its work.';
COMMENT ON COLUMN hubs.adopted_by IS 'The hub that took over this one''s unfinished deliveries after it stopped or its lease ran out; cleared when it starts again.';

-- Adopts, for hub p_hub, every other hub that stopped or whose lease ran out and that no hub has
-- adopted yet: each is adopted once, whatever the number of hubs trying (the hubs row is updated
-- under its lock, and a hub starting again waits for that lock and then sees it adopted). Every
-- delivery such a hub owned that is not finished becomes p_hub's. Answers one row per adopted
-- hub: its name, whether it had stopped cleanly, and how many deliveries moved.
--
-- Finding the owned rows reads the deliveries that are not finished without an index on owner: an
-- adoption is rare, and such an index would cost every ingest and every offer.
CREATE FUNCTION swb_adopt_hubs(p_hub text)
RETURNS TABLE(o_hub text, o_clean boolean, o_lease_expired_ms bigint, o_deliveries bigint)
LANGUAGE plpgsql
AS $$
DECLARE
    v_hub record;
    v_moved bigint;
BEGIN
    FOR v_hub IN
        UPDATE hubs h SET adopted_by = p_hub, adopted_at = clock_timestamp()
         WHERE h.name <> p_hub AND h.adopted_by IS NULL
           AND (h.stopped_at IS NOT NULL
                OR h.seen_at + make_interval(secs => coalesce(h.lease_ms, 0) / 1000.0) < clock_timestamp())
        RETURNING h.name, h.stopped_at IS NOT NULL AS clean,
                  CASE WHEN h.stopped_at IS NULL
                       THEN (extract(epoch FROM clock_timestamp() - (h.seen_at + make_interval(secs => coalesce(h.lease_ms, 0) / 1000.0))) * 1000)::bigint
                  END AS expired_ms
    LOOP
        UPDATE deliveries d SET owner = p_hub
         WHERE d.owner = v_hub.name AND d.state IN ('pending', 'offered', 'in_progress');
        GET DIAGNOSTICS v_moved = ROW_COUNT;
        o_hub := v_hub.name;
        o_clean := v_hub.clean;
        o_lease_expired_ms := v_hub.expired_ms;
        o_deliveries := v_moved;
        RETURN NEXT;
    END LOOP;
END $$;

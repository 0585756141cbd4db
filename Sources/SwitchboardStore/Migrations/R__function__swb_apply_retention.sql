-- Retention (configured by retention_body_days and retention_months): the monthly partitions of
-- interactions that end on or before p_partitions_before are detached and dropped with their
-- rows; then the bodies of interactions received before p_bodies_before are removed, at most
-- p_limit a call (the hub calls it every hour), as erasure removes them. NULL leaves either alone.
-- Returns the bodies removed and the partitions dropped.
CREATE FUNCTION swb_apply_retention(
    p_bodies_before timestamp with time zone, p_partitions_before timestamp with time zone, p_limit integer,
    OUT o_bodies_removed bigint, OUT o_partitions_dropped text[])
RETURNS record
LANGUAGE plpgsql
AS $$
DECLARE
    v_partition record;
BEGIN
    o_bodies_removed := 0;
    o_partitions_dropped := '{}';
    IF p_partitions_before IS NOT NULL THEN
        -- The partitions swb_ensure_interaction_partition makes, interactions_YYYY_MM, by the month they end.
        FOR v_partition IN
            SELECT c.relname
              FROM pg_inherits h JOIN pg_class c ON c.oid = h.inhrelid
             WHERE h.inhparent = 'interactions'::regclass AND c.relname ~ '^interactions_[0-9]{4}_[0-9]{2}$'
               AND (to_date(substr(c.relname, 14), 'YYYY_MM') + interval '1 month') AT TIME ZONE 'UTC' <= p_partitions_before
             ORDER BY c.relname
        LOOP
            EXECUTE format('ALTER TABLE interactions DETACH PARTITION %I', v_partition.relname);
            EXECUTE format('DROP TABLE %I', v_partition.relname);
            o_partitions_dropped := o_partitions_dropped || v_partition.relname::text;
        END LOOP;
    END IF;
    IF p_bodies_before IS NOT NULL THEN
        UPDATE interactions i SET body_text = NULL, body_bytes = NULL
          FROM (SELECT o.id, o.received_at FROM interactions o
                 WHERE o.received_at < p_bodies_before AND (o.body_text IS NOT NULL OR o.body_bytes IS NOT NULL)
                 LIMIT p_limit) old
         WHERE i.id = old.id AND i.received_at = old.received_at;
        GET DIAGNOSTICS o_bodies_removed = ROW_COUNT;
    END IF;
END $$;

-- Moves every row the absorbed customer of merge p_merge still owns to its survivor: identities
-- (verified or not), interactions, their deliveries and ingest keys, feedback, complaints,
-- signals, conversations, outbound messages and consent changes, and appends what moved to the merge's record (customer_merges.moved), which an
-- unmerge moves back. A merge calls it once; the hub's merge pass calls it again for recent
-- merges, for a message stored under the absorbed customer by an ingest that read its identities
-- just before the merge committed. Returns how many rows of each kind moved.
CREATE FUNCTION swb_merge_move(p_merge bigint)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
DECLARE
    v_survivor bigint;
    v_absorbed bigint;
    v_moved jsonb;
BEGIN
    SELECT survivor_id, absorbed_id INTO v_survivor, v_absorbed FROM customer_merges WHERE id = p_merge AND unmerged_at IS NULL FOR UPDATE;
    IF NOT FOUND THEN
        RETURN '{}';
    END IF;
    WITH identities AS (
        UPDATE customer_identities SET customer_id = v_survivor WHERE customer_id = v_absorbed RETURNING kind, value
    ), unverified AS (
        UPDATE customer_unverified_identities SET customer_id = v_survivor WHERE customer_id = v_absorbed RETURNING id
    ), moved_interactions AS (
        UPDATE interactions SET customer_id = v_survivor WHERE customer_id = v_absorbed RETURNING id, received_at, gateway, message_id
    ), moved_deliveries AS (
        UPDATE deliveries d SET customer_id = v_survivor
          FROM moved_interactions i
         WHERE d.interaction_id = i.id AND d.customer_id = v_absorbed
        RETURNING d.id
    ), moved_keys AS (
        UPDATE ingest_keys k SET customer_id = v_survivor
          FROM moved_interactions i
         WHERE k.gateway = i.gateway AND k.message_id = i.message_id AND k.customer_id = v_absorbed
        RETURNING k.gateway, k.message_id
    ), moved_feedback AS (
        UPDATE feedback SET customer_id = v_survivor WHERE customer_id = v_absorbed RETURNING id
    ), moved_complaints AS (
        UPDATE complaints SET customer_id = v_survivor WHERE customer_id = v_absorbed RETURNING id
    ), moved_signals AS (
        UPDATE customer_signals SET customer_id = v_survivor WHERE customer_id = v_absorbed RETURNING id
    ), moved_conversations AS (
        UPDATE conversations SET customer_id = v_survivor WHERE customer_id = v_absorbed RETURNING id
    ), moved_outbound AS (
        UPDATE outbound_messages SET customer_id = v_survivor WHERE customer_id = v_absorbed RETURNING id
    ), moved_consent AS (
        UPDATE consent_changes SET customer_id = v_survivor WHERE customer_id = v_absorbed RETURNING id
    )
    SELECT jsonb_build_object(
               'identities', (SELECT coalesce(jsonb_agg(jsonb_build_array(x.kind, x.value)), '[]') FROM identities x),
               'unverified', (SELECT coalesce(jsonb_agg(x.id), '[]') FROM unverified x),
               'interactions', (SELECT coalesce(jsonb_agg(jsonb_build_array(x.id, x.received_at)), '[]') FROM moved_interactions x),
               'deliveries', (SELECT coalesce(jsonb_agg(x.id), '[]') FROM moved_deliveries x),
               'ingest_keys', (SELECT coalesce(jsonb_agg(jsonb_build_array(x.gateway, x.message_id)), '[]') FROM moved_keys x),
               'feedback', (SELECT coalesce(jsonb_agg(x.id), '[]') FROM moved_feedback x),
               'complaints', (SELECT coalesce(jsonb_agg(x.id), '[]') FROM moved_complaints x),
               'signals', (SELECT coalesce(jsonb_agg(x.id), '[]') FROM moved_signals x),
               'conversations', (SELECT coalesce(jsonb_agg(x.id), '[]') FROM moved_conversations x),
               'outbound', (SELECT coalesce(jsonb_agg(x.id), '[]') FROM moved_outbound x),
               'consent_changes', (SELECT coalesce(jsonb_agg(x.id), '[]') FROM moved_consent x))
      INTO v_moved;
    IF EXISTS (SELECT 1 FROM jsonb_each(v_moved) e WHERE jsonb_array_length(e.value) > 0) THEN
        UPDATE customer_merges m
           SET moved = (SELECT jsonb_object_agg(e.key, coalesce(m.moved -> e.key, '[]') || e.value) FROM jsonb_each(v_moved) e)
         WHERE m.id = p_merge;
    END IF;
    RETURN (SELECT jsonb_object_agg(e.key, jsonb_array_length(e.value)) FROM jsonb_each(v_moved) e);
END $$;

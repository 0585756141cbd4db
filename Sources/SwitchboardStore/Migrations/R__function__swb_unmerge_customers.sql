-- Undoes merge p_merge exactly: every row its record says moved (identities, interactions, their
-- deliveries and ingest keys, feedback, complaints, signals, conversations, outbound messages and
-- consent changes) goes back to the absorbed customer,
-- both customers' rows, attribute sources, value and experience are as they were before the
-- merge, and the pair is declared distinct (a dismissed candidate), so no later message merges
-- it again by itself. Contacts stored under the survivor after the merge stay with it. Refused
-- for a merge undone before, an erased customer, or a survivor merged into another since (undo
-- that merge first). Audited on both customers. Returns how many rows of each kind went back.
CREATE FUNCTION swb_unmerge_customers(p_merge bigint, p_actor text)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
DECLARE
    m customer_merges%ROWTYPE;
    s customers%ROWTYPE;
    a customers%ROWTYPE;
    v_back jsonb;
BEGIN
    SELECT * INTO m FROM customer_merges WHERE id = p_merge FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no merge %', p_merge USING ERRCODE = 'no_data_found';
    END IF;
    IF m.unmerged_at IS NOT NULL THEN
        RAISE EXCEPTION 'merge % was undone already, at %', p_merge, m.unmerged_at USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    PERFORM 1 FROM customers WHERE id IN (m.survivor_id, m.absorbed_id) ORDER BY id FOR UPDATE;
    SELECT * INTO s FROM customers WHERE id = m.survivor_id;
    SELECT * INTO a FROM customers WHERE id = m.absorbed_id;
    IF s.erased_at IS NOT NULL THEN
        RAISE EXCEPTION 'customer % was erased since the merge', s.id USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF s.merged_into IS NOT NULL THEN
        RAISE EXCEPTION 'customer % was merged into customer % since; undo that merge first', s.id, s.merged_into
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;

    WITH identities AS (
        UPDATE customer_identities c SET customer_id = m.absorbed_id
          FROM jsonb_array_elements(m.moved -> 'identities') x
         WHERE c.kind = x ->> 0 AND c.value = x ->> 1 AND c.customer_id = m.survivor_id
        RETURNING 1
    ), unverified AS (
        UPDATE customer_unverified_identities SET customer_id = m.absorbed_id
         WHERE id IN (SELECT x::bigint FROM jsonb_array_elements_text(m.moved -> 'unverified') x) AND customer_id = m.survivor_id
        RETURNING 1
    ), back_interactions AS (
        UPDATE interactions i SET customer_id = m.absorbed_id
          FROM jsonb_array_elements(m.moved -> 'interactions') x
         WHERE i.id = (x ->> 0)::bigint AND i.received_at = (x ->> 1)::timestamptz AND i.customer_id = m.survivor_id
        RETURNING 1
    ), back_deliveries AS (
        UPDATE deliveries SET customer_id = m.absorbed_id
         WHERE id IN (SELECT x::bigint FROM jsonb_array_elements_text(m.moved -> 'deliveries') x) AND customer_id = m.survivor_id
        RETURNING 1
    ), back_keys AS (
        UPDATE ingest_keys k SET customer_id = m.absorbed_id
          FROM jsonb_array_elements(m.moved -> 'ingest_keys') x
         WHERE k.gateway = x ->> 0 AND k.message_id = x ->> 1 AND k.customer_id = m.survivor_id
        RETURNING 1
    ), back_feedback AS (
        UPDATE feedback SET customer_id = m.absorbed_id
         WHERE id IN (SELECT x::bigint FROM jsonb_array_elements_text(m.moved -> 'feedback') x) AND customer_id = m.survivor_id
        RETURNING 1
    ), back_complaints AS (
        UPDATE complaints SET customer_id = m.absorbed_id
         WHERE id IN (SELECT x::bigint FROM jsonb_array_elements_text(m.moved -> 'complaints') x) AND customer_id = m.survivor_id
        RETURNING 1
    ), back_signals AS (
        UPDATE customer_signals SET customer_id = m.absorbed_id
         WHERE id IN (SELECT x::bigint FROM jsonb_array_elements_text(m.moved -> 'signals') x) AND customer_id = m.survivor_id
        RETURNING 1
    ), back_conversations AS (
        UPDATE conversations SET customer_id = m.absorbed_id
         WHERE id IN (SELECT x::bigint FROM jsonb_array_elements_text(m.moved -> 'conversations') x) AND customer_id = m.survivor_id
        RETURNING 1
    ), back_outbound AS (
        UPDATE outbound_messages SET customer_id = m.absorbed_id
         WHERE id IN (SELECT x::bigint FROM jsonb_array_elements_text(m.moved -> 'outbound') x) AND customer_id = m.survivor_id
        RETURNING 1
    ), back_consent AS (
        UPDATE consent_changes SET customer_id = m.absorbed_id
         WHERE id IN (SELECT x::bigint FROM jsonb_array_elements_text(m.moved -> 'consent_changes') x) AND customer_id = m.survivor_id
        RETURNING 1
    )
    SELECT jsonb_build_object('identities', (SELECT count(*) FROM identities), 'unverified', (SELECT count(*) FROM unverified),
                              'interactions', (SELECT count(*) FROM back_interactions), 'deliveries', (SELECT count(*) FROM back_deliveries),
                              'ingest_keys', (SELECT count(*) FROM back_keys), 'feedback', (SELECT count(*) FROM back_feedback),
                              'complaints', (SELECT count(*) FROM back_complaints), 'signals', (SELECT count(*) FROM back_signals),
                              'conversations', (SELECT count(*) FROM back_conversations), 'outbound', (SELECT count(*) FROM back_outbound),
                              'consent_changes', (SELECT count(*) FROM back_consent))
      INTO v_back;

    UPDATE customers c
       SET kind = b.kind, display_name = b.display_name, segment = b.segment, value_tier = b.value_tier, consent = b.consent,
           anonymous = b.anonymous, attributes = b.attributes, updated_at = b.updated_at, merged_into = b.merged_into
      FROM jsonb_populate_record(NULL::customers, m.before -> 'survivor') b
     WHERE c.id = b.id;
    UPDATE customers c
       SET kind = b.kind, display_name = b.display_name, segment = b.segment, value_tier = b.value_tier, consent = b.consent,
           anonymous = b.anonymous, attributes = b.attributes, updated_at = b.updated_at, merged_into = b.merged_into
      FROM jsonb_populate_record(NULL::customers, m.before -> 'absorbed') b
     WHERE c.id = b.id;
    DELETE FROM customer_attribute_sources WHERE customer_id IN (s.id, a.id);
    INSERT INTO customer_attribute_sources SELECT * FROM jsonb_populate_recordset(NULL::customer_attribute_sources, m.before -> 'attribute_sources');
    DELETE FROM customer_value WHERE customer_id IN (s.id, a.id);
    INSERT INTO customer_value SELECT * FROM jsonb_populate_recordset(NULL::customer_value, m.before -> 'value');
    DELETE FROM customer_experience WHERE customer_id IN (s.id, a.id);
    INSERT INTO customer_experience SELECT * FROM jsonb_populate_recordset(NULL::customer_experience, m.before -> 'experience');

    UPDATE customer_merges SET unmerged_at = now(), unmerged_by = p_actor WHERE id = p_merge;
    INSERT INTO customer_merge_candidates (customer_a, customer_b, status, detected_at, decided_at, decided_by, reason, merge_id)
    VALUES (least(s.id, a.id), greatest(s.id, a.id), 'dismissed', now(), now(), p_actor, 'unmerged', p_merge);
    INSERT INTO customer_audit (customer_id, action, actor, detail)
    VALUES (s.id, 'unmerged', p_actor, jsonb_build_object('merge_id', p_merge, 'absorbed', a.id, 'back', v_back)),
           (a.id, 'unmerged', p_actor, jsonb_build_object('merge_id', p_merge, 'survivor', s.id));
    RETURN jsonb_build_object('merge_id', p_merge, 'survivor', s.id, 'absorbed', a.id, 'back', v_back);
END $$;

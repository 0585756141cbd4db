-- Erases a customer's personal data and keeps the rest, so that every count of the analytics
-- views stays what it was: the customer row stays (kind and value tier, no name, segment,
-- consent or attributes; erased_at set), its interactions stay (channel, process, times) without
-- body or attributes, its deliveries stay without notes or transfer reasons, its feedback and
-- complaints stay (type, score, category, times) without survey answers or resolutions, its
-- computed experience goes (customer_experience), and its identities
-- (verified or not) are deleted, so no message links to it again. Its open deliveries end as
-- failed, outcome 'erased', each with a 'failed' event: a hub that still holds one cannot offer
-- it, since the offer's write finds it no longer pending. Audited in customer_audit. Returns what
-- it did; a customer erased before is left alone ({"already_erased": true}). Customers merged into
-- it are erased with it (their rows hold the person's old name and attributes), and the merge
-- records' copies of them are emptied (such a merge can no longer be undone); a customer merged
-- into another is erased through that one.
CREATE FUNCTION swb_erase_customer(p_customer bigint, p_actor text)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
DECLARE
    v_erased_at timestamptz;
    v_identities bigint;
    v_unverified bigint;
    v_interactions bigint;
    v_closed bigint;
    v_detail jsonb;
BEGIN
    SELECT erased_at INTO v_erased_at FROM customers WHERE id = p_customer FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no customer %', p_customer USING ERRCODE = 'no_data_found';
    END IF;
    IF v_erased_at IS NOT NULL THEN
        RETURN jsonb_build_object('already_erased', true, 'erased_at', v_erased_at);
    END IF;
    IF EXISTS (SELECT 1 FROM customers WHERE id = p_customer AND merged_into IS NOT NULL) THEN
        RAISE EXCEPTION 'customer % was merged into customer %; erase that one',
            p_customer, (SELECT merged_into FROM customers WHERE id = p_customer) USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    UPDATE customers
       SET display_name = NULL, segment = NULL, consent = '{}', attributes = '{}', anonymous = true, erased_at = now(), updated_at = now()
     WHERE merged_into = p_customer;
    UPDATE customer_merges SET before = jsonb_build_object('erased', true)
     WHERE survivor_id = p_customer OR absorbed_id IN (SELECT id FROM customers WHERE merged_into = p_customer);
    DELETE FROM customer_identities WHERE customer_id = p_customer;
    GET DIAGNOSTICS v_identities = ROW_COUNT;
    DELETE FROM customer_unverified_identities WHERE customer_id = p_customer;
    GET DIAGNOSTICS v_unverified = ROW_COUNT;
    UPDATE customers
       SET display_name = NULL, segment = NULL, consent = '{}', attributes = '{}', anonymous = true, erased_at = now(), updated_at = now()
     WHERE id = p_customer;
    UPDATE interactions SET body_text = NULL, body_bytes = NULL, attributes = '{}' WHERE customer_id = p_customer;
    GET DIAGNOSTICS v_interactions = ROW_COUNT;
    UPDATE feedback SET answers = NULL WHERE customer_id = p_customer AND answers IS NOT NULL;
    UPDATE complaints SET resolution = NULL WHERE customer_id = p_customer AND resolution IS NOT NULL;
    DELETE FROM customer_experience WHERE customer_id = p_customer;
    DELETE FROM customer_attribute_sources WHERE customer_id = p_customer;
    -- Outbound messages lose their bodies, and those not sent yet are never sent; conversations
    -- lose their thread hints (an e-mail's Message-ID can name the person) and close.
    UPDATE outbound_messages
       SET body_text = NULL, body_bytes = NULL, in_reply_to = NULL, thread = NULL,
           state = CASE WHEN state IN ('pending', 'sending') THEN 'cancelled' ELSE state END,
           last_error = CASE WHEN state IN ('pending', 'sending') THEN 'customer erased' ELSE last_error END,
           owner = NULL, lease_until = NULL
     WHERE customer_id = p_customer;
    UPDATE conversations
       SET thread = NULL, state = 'closed', closed_at = coalesce(closed_at, now()),
           closed_reason = CASE WHEN state = 'open' THEN 'erased' ELSE closed_reason END
     WHERE customer_id = p_customer;
    WITH closed AS (
        UPDATE deliveries d
           SET state = CASE WHEN d.state IN ('pending', 'offered', 'in_progress') THEN 'failed' ELSE d.state END,
               outcome = CASE WHEN d.state IN ('pending', 'offered', 'in_progress') THEN 'erased' ELSE d.outcome END,
               completed_at = CASE WHEN d.state IN ('pending', 'offered', 'in_progress') THEN now() ELSE d.completed_at END,
               notes = NULL, transfer_reason = NULL
          FROM deliveries o
         WHERE o.id = d.id AND d.interaction_id IN (SELECT i.id FROM interactions i WHERE i.customer_id = p_customer)
        RETURNING d.id, d.interaction_id, d.queue, d.attempts, o.state AS was
    ), events AS (
        INSERT INTO delivery_events (delivery_id, interaction_id, queue, kind, attempt, detail, at)
        SELECT c.id, c.interaction_id, c.queue, 'failed', c.attempts, 'customer erased', now()
          FROM closed c WHERE c.was IN ('pending', 'offered', 'in_progress')
        RETURNING 1
    )
    SELECT count(*) INTO v_closed FROM events;
    v_detail := jsonb_build_object('identities', v_identities, 'unverified_identities', v_unverified,
                                   'interactions', v_interactions, 'open_deliveries_closed', v_closed);
    INSERT INTO customer_audit (customer_id, action, actor, detail) VALUES (p_customer, 'erased', p_actor, v_detail);
    RETURN v_detail;
END $$;

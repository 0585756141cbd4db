-- A worker's REPLY on a delivery it holds: stored as an outbound interaction of the delivery's
-- customer, in the conversation of the delivery's interaction (opened now if it had none,
-- reopened if it was closed), owned from now on by the worker, and queued in outbound_messages
-- for the gateway the customer wrote through. The same reply id on the same delivery is stored
-- once: a REPLY re-sent after a hub restart answers with the first one (o_repeated).
CREATE FUNCTION swb_store_reply(
    p_delivery bigint, p_worker text, p_reply_id text, p_content_type text, p_body_text text, p_body_bytes bytea,
    p_close boolean, p_expires_ms bigint)
RETURNS TABLE (o_outbound_id bigint, o_conversation_id bigint, o_interaction_id bigint, o_repeated boolean)
LANGUAGE plpgsql
AS $$
DECLARE
    v_key text := format('reply:%s:%s', p_delivery, p_reply_id);
    v_delivery deliveries;
    v_interaction interactions;
    v_conversation conversations;
    v_outbound bigint;
    v_interaction_id bigint;
    v_now timestamptz := now();
BEGIN
    SELECT m.id, m.conversation_id, m.interaction_id, true INTO o_outbound_id, o_conversation_id, o_interaction_id, o_repeated
      FROM outbound_messages m WHERE m.source_key = v_key;
    IF FOUND THEN
        RETURN NEXT;
        RETURN;
    END IF;
    SELECT * INTO STRICT v_delivery FROM deliveries WHERE id = p_delivery;
    SELECT * INTO STRICT v_interaction FROM interactions
     WHERE id = v_delivery.interaction_id AND received_at = v_delivery.interaction_received_at;
    SELECT * INTO v_conversation FROM conversations WHERE id = v_interaction.conversation_id FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO conversations (customer_id, channel, thread, gateway, first_interaction_id, opened_at, last_activity_at)
        VALUES (v_delivery.customer_id, v_interaction.channel, NULL, v_interaction.gateway, v_interaction.id, v_now, v_now)
        RETURNING * INTO v_conversation;
        UPDATE interactions SET conversation_id = v_conversation.id
         WHERE id = v_interaction.id AND received_at = v_interaction.received_at;
    ELSIF v_conversation.state = 'closed' AND (v_conversation.thread IS NULL OR NOT EXISTS (
              SELECT 1 FROM conversations o
               WHERE o.channel = v_conversation.channel AND o.thread = v_conversation.thread AND o.state = 'open')) THEN
        UPDATE conversations SET state = 'open', closed_at = NULL, closed_reason = NULL WHERE id = v_conversation.id;
    END IF;
    UPDATE conversations
       SET owner_worker = p_worker, last_activity_at = v_now,
           state = CASE WHEN p_close THEN 'closed' ELSE state END,
           closed_at = CASE WHEN p_close THEN v_now ELSE closed_at END,
           closed_reason = CASE WHEN p_close THEN 'replied_close' ELSE closed_reason END
     WHERE id = v_conversation.id;
    v_outbound := nextval(pg_get_serial_sequence('outbound_messages', 'id'));
    v_interaction_id := nextval('interactions_id_seq');
    INSERT INTO interactions (id, received_at, customer_id, gateway, message_id, channel, direction, occurred_at, intent, process,
                              language, priority, content_type, body_text, body_bytes, attributes, conversation_id)
    VALUES (v_interaction_id, v_now, v_delivery.customer_id, v_interaction.gateway, 'outbound-' || v_outbound, v_interaction.channel,
            'outbound', v_now, 'reply', v_interaction.process, v_interaction.language, v_delivery.priority, p_content_type,
            p_body_text, p_body_bytes, jsonb_build_object('worker', p_worker, 'delivery_id', p_delivery::text), v_conversation.id);
    INSERT INTO outbound_messages (id, source_key, customer_id, interaction_id, interaction_received_at, conversation_id, delivery_id,
                                   author, channel, preferred_gateway, in_reply_to, thread, language, priority, content_type, body_text,
                                   body_bytes, expires_at)
    OVERRIDING SYSTEM VALUE
    VALUES (v_outbound, v_key, v_delivery.customer_id, v_interaction_id, v_now, v_conversation.id, p_delivery, p_worker,
            v_interaction.channel, v_interaction.gateway, v_interaction.message_id, v_conversation.thread, v_interaction.language,
            v_delivery.priority, p_content_type, p_body_text, p_body_bytes, v_now + p_expires_ms * interval '1 millisecond');
    RETURN QUERY SELECT v_outbound, v_conversation.id, v_interaction_id, false;
END $$;

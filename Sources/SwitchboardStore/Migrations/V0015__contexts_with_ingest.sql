-- The customer contexts of a batch's tasks read in the batch's own transaction, when a worker is
-- free to take them at once.
--
-- A TASK carries its customer's context (swb_task_contexts, 0011). The hub read it when it offered
-- the task: after the batch had committed and its answers were back, a second statement on another
-- connection, one more round trip and one more turn of the hub's loop on the way from PUBLISH to
-- TASK. When the hub already knows, as it sends a batch, that a worker will be free to take a
-- message's task (at light and moderate load, nearly always), it now asks for the context with
-- the batch: swb_ingest_rounds_with_contexts stores the batch as swb_ingest_rounds does, then
-- reads the contexts of the customers whose messages were stored and marked in p_context, in a
-- statement of its own that sees what the rounds wrote (so `recent` lists the message itself, as
-- before). The answers are swb_ingest_rounds's, with each marked message's context beside it.
--
-- Positions and p_context are those of the ordered batch (by round), as for swb_ingest_rounds.
CREATE FUNCTION swb_ingest_rounds_with_contexts(
    p_context boolean[],
    p_round_ends integer[], p_gateway text[], p_message_id text[], p_channel text[], p_occurred_at bigint[], p_name text[], p_intent text[],
    p_queue text[], p_language text[], p_priority smallint[], p_content_type text[], p_body_text text[], p_body_bytes bytea[],
    p_attributes jsonb[], p_deadline bigint[], p_route_reason text[], p_routing_version integer[], p_fingerprint text[],
    p_phone text[], p_email text[], p_external text[], p_device text[], p_received_at timestamptz)
RETURNS TABLE (o_position integer, o_outcome text, o_interaction_id bigint, o_customer_id bigint, o_queue text, o_delivery_id bigint,
               o_context json)
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_position integer[];
    v_outcome text[];
    v_interaction_id bigint[];
    v_customer_id bigint[];
    v_queue text[];
    v_delivery_id bigint[];
BEGIN
    SELECT array_agg(r.o_position), array_agg(r.o_outcome), array_agg(r.o_interaction_id), array_agg(r.o_customer_id),
           array_agg(r.o_queue), array_agg(r.o_delivery_id)
      INTO v_position, v_outcome, v_interaction_id, v_customer_id, v_queue, v_delivery_id
      FROM swb_ingest_rounds(p_round_ends, p_gateway, p_message_id, p_channel, p_occurred_at, p_name, p_intent, p_queue, p_language,
                             p_priority, p_content_type, p_body_text, p_body_bytes, p_attributes, p_deadline, p_route_reason,
                             p_routing_version, p_fingerprint, p_phone, p_email, p_external, p_device, p_received_at) r;
    -- A statement after the rounds': its snapshot holds what they wrote.
    RETURN QUERY
    WITH answers AS MATERIALIZED (
        SELECT a.position, a.outcome, a.interaction_id, a.customer_id, a.queue, a.delivery_id,
               a.outcome = 'stored' AND coalesce(p_context[a.position], false) AS wanted
          FROM unnest(v_position, v_outcome, v_interaction_id, v_customer_id, v_queue, v_delivery_id)
               AS a (position, outcome, interaction_id, customer_id, queue, delivery_id)
    ), contexts AS MATERIALIZED (
        SELECT c.o_customer_id, c.o_context
          FROM swb_task_contexts(ARRAY(SELECT DISTINCT w.customer_id FROM answers w WHERE w.wanted)) c
    )
    SELECT a.position, a.outcome, a.interaction_id, a.customer_id, a.queue, a.delivery_id, c.o_context
      FROM answers a LEFT JOIN contexts c ON a.wanted AND c.o_customer_id = a.customer_id;
END $$;

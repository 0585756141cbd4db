-- The ingest statement, and in the same transaction the context of each stored message marked in
-- p_context: the tasks a worker is free to take at once go out with their context without a
-- second round trip. The contexts are read in a statement of their own, after every round.
CREATE FUNCTION swb_ingest_rounds_with_contexts(
    p_context boolean[], p_round_ends integer[], p_gateway text[], p_message_id text[], p_channel text[],
    p_occurred_at bigint[], p_name text[], p_intent text[], p_queue text[], p_language text[], p_priority smallint[],
    p_content_type text[], p_body_text text[], p_body_bytes bytea[], p_attributes jsonb[], p_deadline bigint[],
    p_route_reason text[], p_routing_version integer[], p_fingerprint text[], p_phone text[], p_email text[],
    p_external text[], p_device text[], p_task_language text[], p_required_skills text[], p_optional_skills text[],
    p_rule_id text[], p_alternatives jsonb[], p_fax text[], p_chat text[], p_social text[], p_unverified jsonb[],
    p_customer_kind text[], p_extra jsonb[], p_received_at timestamp with time zone)
RETURNS TABLE(o_position integer, o_outcome text, o_interaction_id bigint, o_customer_id bigint, o_queue text, o_delivery_id bigint,
              o_alternative integer, o_conversation_id bigint, o_owner text, o_context json)
LANGUAGE plpgsql
SET plan_cache_mode TO 'force_generic_plan'
AS $$
DECLARE
    v record;
BEGIN
    v := swb_ingest_rounds_arrays(p_round_ends, p_gateway, p_message_id, p_channel, p_occurred_at, p_name, p_intent, p_queue,
                                  p_language, p_priority, p_content_type, p_body_text, p_body_bytes, p_attributes, p_deadline,
                                  p_route_reason, p_routing_version, p_fingerprint, p_phone, p_email, p_external, p_device,
                                  p_task_language, p_required_skills, p_optional_skills, p_rule_id, p_alternatives, p_fax, p_chat,
                                  p_social, p_unverified, p_customer_kind, p_extra, p_received_at);
    RETURN QUERY
    WITH answers AS MATERIALIZED (
        SELECT a.position, a.outcome, a.interaction_id, a.customer_id, a.queue, a.delivery_id, a.alternative, a.conversation_id, a.owner,
               a.outcome = 'stored' AND coalesce(p_context[a.position], false) AS wanted
          FROM unnest(v.o_position, v.o_outcome, v.o_interaction_id, v.o_customer_id, v.o_queue, v.o_delivery_id, v.o_alternative,
                      v.o_conversation_id, v.o_owner)
               AS a (position, outcome, interaction_id, customer_id, queue, delivery_id, alternative, conversation_id, owner)
    ), contexts AS MATERIALIZED (
        SELECT c.o_interaction_id, c.o_context
          FROM swb_task_contexts(ARRAY(SELECT w.interaction_id FROM answers w WHERE w.wanted ORDER BY w.position),
                                 ARRAY(SELECT p_received_at FROM answers w WHERE w.wanted ORDER BY w.position),
                                 ARRAY(SELECT w.customer_id FROM answers w WHERE w.wanted ORDER BY w.position)) c
    )
    SELECT a.position, a.outcome, a.interaction_id, a.customer_id, a.queue, a.delivery_id, a.alternative, a.conversation_id, a.owner,
           c.o_context
      FROM answers a LEFT JOIN contexts c ON a.wanted AND c.o_interaction_id = a.interaction_id;
END $$;

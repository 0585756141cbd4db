-- The deliveries of p_ids whose state is one of p_states, with what a TASK carries of their
-- interactions, in dispatch order: a refill's page, a returning worker's held deliveries.
-- They are found by primary key, always: the state is tested after the look-up (OFFSET 0 keeps
-- it from being pushed down), because a state filter beside the ids let a planner that believed
-- few deliveries pending read them through the partial index of pending deliveries, every one
-- of them to find a handful. Times are Unix milliseconds.
CREATE FUNCTION swb_delivery_tasks(p_ids bigint[], p_states text[])
RETURNS TABLE (o_id bigint, o_queue text, o_priority integer, o_deadline bigint, o_attempts integer, o_not_before bigint,
               o_worker text, o_lease_until bigint, o_interaction_id bigint, o_gateway text, o_message_id text, o_channel text,
               o_occurred_at bigint, o_received_at bigint, o_intent text, o_language text, o_content_type text, o_attributes jsonb,
               o_route_reason text, o_body_text text, o_body_hex text, o_customer_id bigint, o_task_language text,
               o_required_skills json, o_optional_skills json, o_escalations integer, o_conversation_id bigint, o_owner text)
LANGUAGE sql STABLE
SET enable_seqscan = off
SET enable_bitmapscan = off
SET enable_hashjoin = off
SET enable_mergejoin = off
SET plan_cache_mode = force_generic_plan
SET jit = off
AS $$
    SELECT d.id, d.queue, d.priority::integer, (extract(epoch FROM d.deadline) * 1000)::bigint, d.attempts,
           (extract(epoch FROM d.not_before) * 1000)::bigint, d.worker, (extract(epoch FROM d.lease_until) * 1000)::bigint,
           i.id, i.gateway, i.message_id, i.channel, (extract(epoch FROM i.occurred_at) * 1000)::bigint,
           (extract(epoch FROM i.received_at) * 1000)::bigint, i.intent, i.language, i.content_type, i.attributes,
           d.route_reason, i.body_text, encode(i.body_bytes, 'hex'), d.customer_id, d.language,
           to_json(d.required_skills), to_json(d.optional_skills), d.escalations::integer, i.conversation_id, c.owner_worker
      FROM (SELECT * FROM deliveries WHERE id = ANY (p_ids) OFFSET 0) d
      JOIN interactions i ON i.id = d.interaction_id AND i.received_at = d.interaction_received_at
      -- The owner of the interaction's conversation while it is open: the task is offered to that worker first.
      LEFT JOIN conversations c ON c.id = i.conversation_id AND c.state = 'open'
     WHERE d.state = ANY (p_states)
     ORDER BY d.deadline, d.priority DESC, d.id
$$;

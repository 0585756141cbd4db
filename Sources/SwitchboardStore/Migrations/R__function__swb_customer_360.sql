-- A customer's whole record for a worker's QUERY (worker.md): the customer found by id, or by a
-- normalized identity (p_kind, p_value), as one JSON object: profile, identities (and hints kept
-- unverified), value scores and experience (customer_experience), open deliveries, the ten latest
-- interactions, the ten latest feedback, every open complaint and the five latest resolved, and
-- the signals raised and not cleared, newest first;
-- times as Unix milliseconds, members without a value left out. NULL when there is no such
-- customer. An erased customer answers with its profile only; a merged one with its survivor's
-- record, which lists the ids merged into it (merged_from).
CREATE FUNCTION swb_customer_360(p_customer bigint, p_kind text, p_value text)
RETURNS json
LANGUAGE plpgsql
STABLE
SET jit TO 'off'
AS $$
DECLARE
    v_customer bigint := p_customer;
    v_result json;
BEGIN
    IF v_customer IS NULL THEN
        SELECT ci.customer_id INTO v_customer FROM customer_identities ci WHERE ci.kind = p_kind AND ci.value = p_value;
    END IF;
    -- A customer merged into another is that one now.
    FOR v_step IN 1..16 LOOP
        EXIT WHEN NOT EXISTS (SELECT 1 FROM customers WHERE id = v_customer AND merged_into IS NOT NULL);
        SELECT merged_into INTO v_customer FROM customers WHERE id = v_customer;
    END LOOP;
    SELECT json_strip_nulls(json_build_object(
               'id', c.id, 'kind', c.kind, 'display_name', c.display_name, 'segment', c.segment, 'value_tier', c.value_tier,
               'anonymous', c.anonymous, 'erased', c.erased_at IS NOT NULL, 'attributes', c.attributes, 'consent', c.consent,
               'merged_from', (SELECT json_agg(m.id ORDER BY m.id) FROM customers m WHERE m.merged_into = c.id),
               'identities', (SELECT coalesce(json_agg(json_build_object('kind', ci.kind, 'value', ci.value, 'verified', ci.verified)
                                                       ORDER BY ci.kind, ci.value), '[]')
                                FROM customer_identities ci WHERE ci.customer_id = c.id),
               'unverified_identities', (SELECT json_agg(json_build_object('kind', u.kind, 'value', u.value) ORDER BY u.id)
                                           FROM customer_unverified_identities u WHERE u.customer_id = c.id),
               'value', (SELECT json_build_object('recency_days', v.recency_days, 'frequency', v.frequency, 'monetary', v.monetary,
                                                  'score', v.score, 'repeat_contacts', v.repeat_contacts,
                                                  'computed_at', (extract(epoch FROM v.computed_at) * 1000)::bigint)
                           FROM customer_value v WHERE v.customer_id = c.id),
               'experience', (SELECT json_build_object('satisfaction', e.satisfaction, 'ratings', e.ratings, 'complaints', e.complaints,
                                                       'open_complaints', e.open_complaints, 'repeat_contacts', e.repeat_contacts,
                                                       'days_since_contact', e.days_since_contact, 'experience_score', e.experience_score,
                                                       'churn_risk', e.churn_risk,
                                                       'computed_at', (extract(epoch FROM e.computed_at) * 1000)::bigint)
                                FROM customer_experience e WHERE e.customer_id = c.id),
               'feedback', (SELECT coalesce(json_agg(json_build_object('feedback_id', f.id, 'type', f.type, 'score', f.score,
                                                                       'category', f.category, 'answers', f.answers, 'source', f.source,
                                                                       'process', f.process, 'channel', f.channel,
                                                                       'interaction_id', f.interaction_id,
                                                                       'about_interaction_id', f.about_interaction_id,
                                                                       'received_at', (extract(epoch FROM f.received_at) * 1000)::bigint)
                                                     ORDER BY f.received_at DESC, f.id DESC), '[]')
                              FROM (SELECT * FROM feedback f WHERE f.customer_id = c.id ORDER BY f.received_at DESC, f.id DESC LIMIT 10) f),
               'complaints', (SELECT coalesce(json_agg(json_build_object('complaint_id', k.id, 'status', k.status, 'category', k.category,
                                                                         'process', k.process, 'interaction_id', k.interaction_id,
                                                                         'opened_at', (extract(epoch FROM k.opened_at) * 1000)::bigint,
                                                                         'resolved_at', (extract(epoch FROM k.resolved_at) * 1000)::bigint,
                                                                         'resolution', k.resolution, 'resolved_by', k.resolved_by)
                                                       ORDER BY k.opened_at DESC, k.id DESC), '[]')
                                FROM (SELECT * FROM complaints k WHERE k.customer_id = c.id AND k.status = 'open'
                                      UNION ALL
                                      (SELECT * FROM complaints k WHERE k.customer_id = c.id AND k.status = 'resolved'
                                        ORDER BY k.resolved_at DESC LIMIT 5)) k),
               'signals', (SELECT json_agg(json_build_object('signal', s.signal, 'process', s.process, 'score', s.score, 'detail', s.detail,
                                                             'detected_at', (extract(epoch FROM s.detected_at) * 1000)::bigint)
                                           ORDER BY s.detected_at DESC, s.id DESC)
                             FROM (SELECT * FROM customer_signals s WHERE s.customer_id = c.id AND s.cleared_at IS NULL
                                    ORDER BY s.detected_at DESC, s.id DESC LIMIT 10) s),
               'open_deliveries', (SELECT coalesce(json_agg(json_build_object('delivery_id', d.id, 'queue', d.queue, 'state', d.state,
                                                                              'worker', d.worker, 'interaction_id', d.interaction_id,
                                                                              'deadline', (extract(epoch FROM d.deadline) * 1000)::bigint)
                                                            ORDER BY d.deadline, d.id), '[]')
                                     FROM interactions i JOIN deliveries d ON d.interaction_id = i.id
                                    WHERE i.customer_id = c.id AND d.state IN ('pending', 'offered', 'in_progress')),
               'recent', (SELECT coalesce(json_agg(json_build_object('interaction_id', h.id, 'channel', h.channel, 'process', h.process,
                                                                     'intent', h.intent,
                                                                     'received_at', (extract(epoch FROM h.received_at) * 1000)::bigint)
                                                   ORDER BY h.received_at DESC, h.id DESC), '[]')
                            FROM (SELECT i.id, i.channel, i.process, i.intent, i.received_at FROM interactions i
                                   WHERE i.customer_id = c.id ORDER BY i.received_at DESC, i.id DESC LIMIT 10) h)))
      INTO v_result
      FROM customers c WHERE c.id = v_customer;
    RETURN v_result;
END $$;

-- Merges customer p_absorbed into p_survivor (switchboard customer merge, or the hub's merge
-- pass), in one transaction. Field by field: the survivor keeps its name, segment and value tier
-- and takes the absorbed's where it has none (a tier other than standard counts); a conflict (both
-- set, different; for consent and attributes, per key) keeps the survivor's unless p_take names
-- it ('display_name', 'segment', 'value_tier', 'consent.KEY', 'attributes.KEY'); kind is partner
-- if either is; anonymous only if both are; attribute sources follow the values kept. Every row of
-- the absorbed customer moves (swb_merge_move); its row stays, merged_into the survivor, so that
-- swb_unmerge_customers can give both back exactly from the merge's record. Open candidates of
-- the pair are settled as merged; both customers' audit records the merge. Returns the merge id,
-- the conflicts and how each was decided, and the counts of rows moved.
CREATE FUNCTION swb_merge_customers(p_survivor bigint, p_absorbed bigint, p_actor text, p_reason text, p_take text[])
RETURNS jsonb
LANGUAGE plpgsql
AS $$
DECLARE
    s customers%ROWTYPE;
    a customers%ROWTYPE;
    v_take text[] := coalesce(p_take, '{}');
    v_conflicts jsonb;
    v_merge bigint;
    v_moved jsonb;
    v_source_keys text[];
BEGIN
    IF p_survivor = p_absorbed THEN
        RAISE EXCEPTION 'a customer cannot be merged into itself' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM 1 FROM customers WHERE id IN (p_survivor, p_absorbed) ORDER BY id FOR UPDATE;
    SELECT * INTO s FROM customers WHERE id = p_survivor;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no customer %', p_survivor USING ERRCODE = 'no_data_found';
    END IF;
    SELECT * INTO a FROM customers WHERE id = p_absorbed;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no customer %', p_absorbed USING ERRCODE = 'no_data_found';
    END IF;
    IF s.erased_at IS NOT NULL OR a.erased_at IS NOT NULL THEN
        RAISE EXCEPTION 'customer % is erased', CASE WHEN s.erased_at IS NOT NULL THEN s.id ELSE a.id END
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF s.merged_into IS NOT NULL OR a.merged_into IS NOT NULL THEN
        RAISE EXCEPTION 'customer % was merged into customer % already',
            CASE WHEN s.merged_into IS NOT NULL THEN s.id ELSE a.id END, coalesce(s.merged_into, a.merged_into)
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;

    v_conflicts := jsonb_strip_nulls(jsonb_build_object(
                       'display_name', CASE WHEN s.display_name <> a.display_name
                                            THEN jsonb_build_object('survivor', s.display_name, 'absorbed', a.display_name) END,
                       'segment', CASE WHEN s.segment <> a.segment THEN jsonb_build_object('survivor', s.segment, 'absorbed', a.segment) END,
                       'value_tier', CASE WHEN s.value_tier <> 'standard' AND a.value_tier <> 'standard' AND s.value_tier <> a.value_tier
                                          THEN jsonb_build_object('survivor', s.value_tier, 'absorbed', a.value_tier) END))
                   || (SELECT coalesce(jsonb_object_agg('consent.' || x.key, jsonb_build_object('survivor', s.consent -> x.key, 'absorbed', x.value)),
                                       '{}')
                         FROM jsonb_each(a.consent) x WHERE s.consent ? x.key AND s.consent -> x.key <> x.value)
                   || (SELECT coalesce(jsonb_object_agg('attributes.' || x.key,
                                                        jsonb_build_object('survivor', s.attributes -> x.key, 'absorbed', x.value)), '{}')
                         FROM jsonb_each(a.attributes) x WHERE s.attributes ? x.key AND s.attributes -> x.key <> x.value);
    IF EXISTS (SELECT 1 FROM unnest(v_take) t WHERE NOT v_conflicts ? t) THEN
        RAISE EXCEPTION 'nothing to take for %: the customers do not differ there (conflicts: %)',
            (SELECT string_agg(t, ', ') FROM unnest(v_take) t WHERE NOT v_conflicts ? t),
            coalesce((SELECT string_agg(k, ', ' ORDER BY k) FROM jsonb_object_keys(v_conflicts) k), 'none')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_conflicts := (SELECT coalesce(jsonb_object_agg(c.key, c.value || jsonb_build_object('kept', CASE WHEN c.key = ANY(v_take) THEN 'absorbed'
                                                                                                      ELSE 'survivor' END)), '{}')
                      FROM jsonb_each(v_conflicts) c);

    INSERT INTO customer_merges (survivor_id, absorbed_id, actor, reason, conflicts, before, moved)
    VALUES (s.id, a.id, p_actor, p_reason, v_conflicts,
            jsonb_build_object(
                'survivor', to_jsonb(s), 'absorbed', to_jsonb(a),
                'attribute_sources', (SELECT coalesce(jsonb_agg(to_jsonb(x)), '[]') FROM customer_attribute_sources x
                                       WHERE x.customer_id IN (s.id, a.id)),
                'value', (SELECT coalesce(jsonb_agg(to_jsonb(x)), '[]') FROM customer_value x WHERE x.customer_id IN (s.id, a.id)),
                'experience', (SELECT coalesce(jsonb_agg(to_jsonb(x)), '[]') FROM customer_experience x WHERE x.customer_id IN (s.id, a.id))),
            '{}')
    RETURNING id INTO v_merge;

    UPDATE customers
       SET display_name = CASE WHEN 'display_name' = ANY(v_take) THEN a.display_name ELSE coalesce(s.display_name, a.display_name) END,
           segment = CASE WHEN 'segment' = ANY(v_take) THEN a.segment ELSE coalesce(s.segment, a.segment) END,
           value_tier = CASE WHEN 'value_tier' = ANY(v_take) OR s.value_tier = 'standard' THEN a.value_tier ELSE s.value_tier END,
           kind = CASE WHEN 'partner' IN (s.kind, a.kind) THEN 'partner' ELSE 'consumer' END,
           anonymous = s.anonymous AND a.anonymous,
           consent = a.consent || s.consent
                     || (SELECT coalesce(jsonb_object_agg(substr(t, 9), a.consent -> substr(t, 9)), '{}') FROM unnest(v_take) t
                          WHERE t LIKE 'consent.%'),
           attributes = a.attributes || s.attributes
                        || (SELECT coalesce(jsonb_object_agg(substr(t, 12), a.attributes -> substr(t, 12)), '{}') FROM unnest(v_take) t
                             WHERE t LIKE 'attributes.%'),
           updated_at = now()
     WHERE id = s.id;
    UPDATE customers SET merged_into = s.id, updated_at = now() WHERE id = a.id;

    -- The sources of the values taken from the absorbed customer replace the survivor's; the
    -- absorbed's other sources move where the survivor has none.
    v_source_keys := ARRAY(SELECT CASE WHEN t = 'display_name' THEN 'name' WHEN t LIKE 'attributes.%' THEN substr(t, 12) ELSE t END
                             FROM unnest(v_take) t);
    DELETE FROM customer_attribute_sources x
     WHERE x.customer_id = s.id AND x.key = ANY(v_source_keys)
       AND EXISTS (SELECT 1 FROM customer_attribute_sources y WHERE y.customer_id = a.id AND y.key = x.key);
    UPDATE customer_attribute_sources x SET customer_id = s.id
     WHERE x.customer_id = a.id AND NOT EXISTS (SELECT 1 FROM customer_attribute_sources y WHERE y.customer_id = s.id AND y.key = x.key);
    DELETE FROM customer_attribute_sources WHERE customer_id = a.id;
    -- Value and experience are the survivor's, recomputed on their schedules.
    DELETE FROM customer_value WHERE customer_id = a.id;
    DELETE FROM customer_experience WHERE customer_id = a.id;

    v_moved := swb_merge_move(v_merge);
    UPDATE customer_merge_candidates
       SET status = 'merged', decided_at = now(), decided_by = p_actor, reason = coalesce(reason, p_reason), merge_id = v_merge
     WHERE customer_a = least(s.id, a.id) AND customer_b = greatest(s.id, a.id) AND status IN ('new', 'review');
    INSERT INTO customer_audit (customer_id, action, actor, detail)
    VALUES (s.id, 'merged', p_actor, jsonb_build_object('merge_id', v_merge, 'absorbed', a.id, 'reason', p_reason, 'conflicts', v_conflicts)),
           (a.id, 'merged', p_actor, jsonb_build_object('merge_id', v_merge, 'survivor', s.id, 'reason', p_reason));
    RETURN jsonb_build_object('merge_id', v_merge, 'survivor', s.id, 'absorbed', a.id, 'conflicts', v_conflicts, 'moved', v_moved);
END $$;

-- The hub's merge pass: decides up to p_limit new candidates (pairs of customers one message
-- linked), oldest first, and answers the merges it made, for the customer.merged events.
-- A pair is first followed through earlier merges (a customer merged since stands for its
-- survivor). Then:
--   already one customer, or an erased one               -> merged / dismissed, nothing to do;
--   declared distinct before (a dismissed candidate)     -> dismissed ('dismissed_before');
--   one of them anonymous (or both)                      -> merged: the known one survives
--                                                           (of two anonymous ones, the older);
--   p_same_name and the same display name (any case)     -> merged, the older survives;
--   the linking message came from one of p_gateways     -> merged, the older survives;
--   otherwise                                            -> review (switchboard customer review).
-- A merge that fails leaves its pair for review with the reason. Then every merge of the last
-- ten minutes takes the rows its absorbed customer gained since (swb_merge_move). Hubs sharing
-- the database take turns.
CREATE FUNCTION swb_process_merge_candidates(p_same_name boolean, p_gateways text[], p_limit integer)
RETURNS TABLE(o_merge_id bigint, o_survivor bigint, o_absorbed bigint, o_reason text, o_at bigint)
LANGUAGE plpgsql
AS $$
DECLARE
    c customer_merge_candidates%ROWTYPE;
    v_a customers%ROWTYPE;
    v_b customers%ROWTYPE;
    v_step integer;
    v_survivor bigint;
    v_absorbed bigint;
    v_reason text;
    v_status text;
    v_result jsonb;
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtext('swb_process_merge_candidates')) THEN
        RETURN;
    END IF;
    FOR c IN SELECT * FROM customer_merge_candidates WHERE status = 'new' ORDER BY id LIMIT p_limit LOOP
        SELECT * INTO v_a FROM customers WHERE id = c.customer_a;
        SELECT * INTO v_b FROM customers WHERE id = c.customer_b;
        FOR v_step IN 1..16 LOOP
            EXIT WHEN v_a.merged_into IS NULL;
            SELECT * INTO v_a FROM customers WHERE id = v_a.merged_into;
        END LOOP;
        FOR v_step IN 1..16 LOOP
            EXIT WHEN v_b.merged_into IS NULL;
            SELECT * INTO v_b FROM customers WHERE id = v_b.merged_into;
        END LOOP;
        v_status := 'merged';
        v_survivor := NULL;
        v_result := NULL;
        IF v_a.id IS NULL OR v_b.id IS NULL OR v_a.id = v_b.id THEN
            v_reason := 'already_one';
        ELSIF v_a.erased_at IS NOT NULL OR v_b.erased_at IS NOT NULL THEN
            v_status := 'dismissed';
            v_reason := 'erased';
        ELSIF EXISTS (SELECT 1 FROM customer_merge_candidates d
                       WHERE d.customer_a = least(v_a.id, v_b.id) AND d.customer_b = greatest(v_a.id, v_b.id) AND d.status = 'dismissed') THEN
            v_status := 'dismissed';
            v_reason := 'dismissed_before';
        ELSIF v_a.anonymous OR v_b.anonymous THEN
            v_survivor := CASE WHEN v_a.anonymous AND NOT v_b.anonymous THEN v_b.id WHEN v_b.anonymous AND NOT v_a.anonymous THEN v_a.id
                               ELSE least(v_a.id, v_b.id) END;
            v_reason := CASE WHEN v_a.anonymous AND v_b.anonymous THEN 'both_anonymous' ELSE 'one_anonymous' END;
        ELSIF p_same_name AND lower(btrim(v_a.display_name)) = lower(btrim(v_b.display_name)) THEN
            v_survivor := least(v_a.id, v_b.id);
            v_reason := 'same_name';
        ELSIF c.gateway = ANY(p_gateways) THEN
            v_survivor := least(v_a.id, v_b.id);
            v_reason := 'gateway';
        ELSE
            v_status := 'review';
            v_reason := 'ambiguous';
        END IF;
        IF v_survivor IS NOT NULL THEN
            v_absorbed := CASE WHEN v_survivor = v_a.id THEN v_b.id ELSE v_a.id END;
            BEGIN
                v_result := swb_merge_customers(v_survivor, v_absorbed, 'hub', v_reason, '{}');
            EXCEPTION WHEN OTHERS THEN
                v_status := 'review';
                v_reason := 'merge failed: ' || SQLERRM;
            END;
        END IF;
        UPDATE customer_merge_candidates
           SET status = v_status, decided_at = now(), decided_by = 'hub', reason = v_reason, merge_id = (v_result ->> 'merge_id')::bigint
         WHERE id = c.id AND status = 'new';
        IF v_result IS NOT NULL THEN
            o_merge_id := (v_result ->> 'merge_id')::bigint;
            o_survivor := v_survivor;
            o_absorbed := v_absorbed;
            o_reason := v_reason;
            o_at := (extract(epoch FROM now()) * 1000)::bigint;
            RETURN NEXT;
        END IF;
    END LOOP;
    PERFORM swb_merge_move(m.id) FROM customer_merges m WHERE m.unmerged_at IS NULL AND m.merged_at > now() - interval '10 minutes';
END $$;

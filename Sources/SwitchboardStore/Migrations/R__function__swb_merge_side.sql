-- One side of a pair in review, as `switchboard customer review` shows it: the customer's name,
-- kind, segment, tier, anonymity, attributes, identities and how many contacts it has had.
CREATE FUNCTION swb_merge_side(p_customer bigint)
RETURNS json
LANGUAGE sql
STABLE
AS $$
    SELECT json_strip_nulls(json_build_object(
               'id', c.id, 'display_name', c.display_name, 'kind', c.kind, 'segment', c.segment, 'value_tier', c.value_tier,
               'anonymous', c.anonymous, 'attributes', c.attributes, 'merged_into', c.merged_into, 'erased', c.erased_at IS NOT NULL,
               'identities', (SELECT json_agg(ci.kind || ':' || ci.value ORDER BY ci.kind, ci.value) FROM customer_identities ci
                               WHERE ci.customer_id = c.id),
               'contacts', (SELECT count(*) FROM interactions i WHERE i.customer_id = c.id)))
      FROM customers c WHERE c.id = p_customer
$$;

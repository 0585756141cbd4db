-- Which of a message's alternative routes its customer meets: the 0-based index of the first
-- element of p_alternatives (made by the hub, RouteDecision.alternatives) whose conditions on the
-- customer all hold, or NULL for none (the hub's own route stands). A condition is a member of
-- the element: "kind", "segment", "tier" (lists of values, one must be the customer's) and
-- "attributes" (an object customers.attributes must contain). A customer with no row yet (made by
-- this message) is a consumer of tier standard with no segment or attributes; p_kind 'partner'
-- (the message's hint) makes any customer a partner.
CREATE FUNCTION swb_route_pick(p_customer bigint, p_alternatives jsonb, p_kind text)
RETURNS integer
LANGUAGE sql STABLE
AS $$
    SELECT (x.n - 1)::integer
      FROM jsonb_array_elements(p_alternatives) WITH ORDINALITY AS x (a, n)
      LEFT JOIN customers c ON c.id = p_customer
     WHERE (NOT (x.a ? 'kind') OR x.a -> 'kind' ? coalesce(nullif(p_kind, 'consumer'), c.kind, 'consumer'))
       AND (NOT (x.a ? 'segment') OR (c.segment IS NOT NULL AND x.a -> 'segment' ? c.segment))
       AND (NOT (x.a ? 'tier') OR x.a -> 'tier' ? coalesce(c.value_tier, 'standard'))
       AND (NOT (x.a ? 'attributes') OR coalesce(c.attributes, '{}') @> (x.a -> 'attributes'))
     ORDER BY x.n
     LIMIT 1
$$;

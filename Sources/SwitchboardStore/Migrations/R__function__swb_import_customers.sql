-- An import of external customer data, all or nothing: p_rows is a JSON array with one object a
-- row, {"line": n, "identities": [{"kind": k, "value": v}, …] (normalized), "fields": {key: value}}.
-- Fields: name (fills an empty display name), segment, value_tier, kind (consumer or partner),
-- consent.<channel> (true or false), and any other key an attribute. A row's customer is the one
-- its identities name (the lowest id, as ingest resolves them), or a new one; identities no
-- customer has are given to it. A row whose identities name two customers is a problem, as is a
-- kind that is neither consumer nor partner: when there is any, nothing is written and the
-- problems are returned ({"problems": [{"line": n, "reason": …}]}). The same file (p_digest) from
-- the same source is applied once ({"already_imported": id}).
CREATE FUNCTION swb_import_customers(p_source text, p_digest text, p_rows jsonb)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
DECLARE
    v_row jsonb;
    v_owners bigint[];
    v_customer bigint;
    v_problems jsonb := '[]';
    v_import bigint;
    v_created integer := 0;
    v_matched integer := 0;
    v_field record;
BEGIN
    SELECT id INTO v_import FROM customer_imports WHERE source = p_source AND digest = p_digest;
    IF FOUND THEN
        RETURN jsonb_build_object('already_imported', v_import);
    END IF;
    FOR v_row IN SELECT value FROM jsonb_array_elements(p_rows) LOOP
        SELECT array_agg(DISTINCT ci.customer_id ORDER BY ci.customer_id) INTO v_owners
          FROM jsonb_array_elements(v_row -> 'identities') h
          JOIN customer_identities ci ON ci.kind = h ->> 'kind' AND ci.value = h ->> 'value';
        IF cardinality(v_owners) > 1 THEN
            v_problems := v_problems || jsonb_build_object('line', v_row -> 'line',
                'reason', format('its identities belong to customers %s; merge them first', array_to_string(v_owners, ' and ')));
        END IF;
        IF v_row -> 'fields' ? 'kind' AND NOT (v_row -> 'fields' ->> 'kind') IN ('consumer', 'partner') THEN
            v_problems := v_problems || jsonb_build_object('line', v_row -> 'line',
                'reason', format('kind %s is neither consumer nor partner', v_row -> 'fields' ->> 'kind'));
        END IF;
    END LOOP;
    IF jsonb_array_length(v_problems) > 0 THEN
        RETURN jsonb_build_object('problems', v_problems);
    END IF;
    INSERT INTO customer_imports (source, digest, rows, created, matched) VALUES (p_source, p_digest, jsonb_array_length(p_rows), 0, 0)
    RETURNING id INTO v_import;
    FOR v_row IN SELECT value FROM jsonb_array_elements(p_rows) LOOP
        SELECT min(ci.customer_id) INTO v_customer
          FROM jsonb_array_elements(v_row -> 'identities') h
          JOIN customer_identities ci ON ci.kind = h ->> 'kind' AND ci.value = h ->> 'value';
        IF v_customer IS NULL THEN
            INSERT INTO customers (anonymous) VALUES (false) RETURNING id INTO v_customer;
            v_created := v_created + 1;
        ELSE
            v_matched := v_matched + 1;
        END IF;
        INSERT INTO customer_identities (kind, value, customer_id)
        SELECT h ->> 'kind', h ->> 'value', v_customer FROM jsonb_array_elements(v_row -> 'identities') h
        ON CONFLICT (kind, value) DO NOTHING;
        FOR v_field IN SELECT key, value FROM jsonb_each_text(v_row -> 'fields') LOOP
            CASE
                WHEN v_field.key = 'name' THEN
                    UPDATE customers SET display_name = coalesce(display_name, v_field.value) WHERE id = v_customer;
                WHEN v_field.key = 'segment' THEN
                    UPDATE customers SET segment = v_field.value WHERE id = v_customer;
                WHEN v_field.key = 'value_tier' THEN
                    UPDATE customers SET value_tier = v_field.value WHERE id = v_customer;
                WHEN v_field.key = 'kind' THEN
                    UPDATE customers SET kind = v_field.value WHERE id = v_customer;
                WHEN v_field.key LIKE 'consent.%' THEN
                    UPDATE customers SET consent = consent || jsonb_build_object(substr(v_field.key, 9), v_field.value::boolean)
                     WHERE id = v_customer;
                    INSERT INTO consent_changes (customer_id, purpose, granted, source)
                    VALUES (v_customer, substr(v_field.key, 9), v_field.value::boolean, 'import:' || p_source);
                ELSE
                    UPDATE customers SET attributes = attributes || jsonb_build_object(v_field.key, v_field.value) WHERE id = v_customer;
            END CASE;
            INSERT INTO customer_attribute_sources (customer_id, key, value, source, import_id)
            VALUES (v_customer, v_field.key, v_field.value, p_source, v_import)
            ON CONFLICT (customer_id, key) DO UPDATE
               SET value = excluded.value, source = excluded.source, import_id = excluded.import_id, imported_at = excluded.imported_at;
        END LOOP;
        UPDATE customers SET anonymous = false, updated_at = now() WHERE id = v_customer;
    END LOOP;
    UPDATE customer_imports SET created = v_created, matched = v_matched WHERE id = v_import;
    RETURN jsonb_build_object('import', v_import, 'rows', jsonb_array_length(p_rows), 'created', v_created, 'matched', v_matched);
END $$;

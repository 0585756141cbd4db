-- One pass of every running campaign at p_now (the hub's clock; a test's own): each contacts at
-- most its batch_size new targets, then every campaign's responses, conversions and opt-outs are
-- attributed. One hub at a time (an advisory lock; the others skip the pass). Answers what it did.
--
-- A customer is a target when the campaign's rules match (docs/campaigns.md): kind, value_tier,
-- segment (lists), attributes (contained), last_contact_days {min, max} and lifecycle (new:
-- first contact within 30 days; active: last within 90; lapsed: last 90 to 365 days ago;
-- dormant: longer, or never). A target is passed over for now when its local time (attribute
-- time_zone, else the campaign's) is outside the campaign's days and hours or inside the quiet
-- hours, or when it was contacted p_cap_count times in p_cap_days by any campaign; it is skipped
-- for good (recorded) when it has withdrawn marketing consent, must not be contacted, refused
-- the channel, has no address on it, or no template fits its language.
--
-- A message campaign queues an outbound message (an outbound interaction) that expires at the end
-- of the target's contact window; a task campaign files an outbound task in its queue. A
-- response is the target's first inbound contact within response_days of the campaign's; a
-- conversion is a DONE with one of conversion_outcomes on a task of the target's in that time
-- (its response's, or the campaign's own task); an opt-out is a withdrawal of marketing consent
-- in that time.
CREATE FUNCTION swb_run_campaigns(
    p_now timestamptz, p_quiet_start time, p_quiet_end time, p_cap_count integer, p_cap_days integer, p_task_deadline_ms bigint)
RETURNS json
LANGUAGE plpgsql
AS $$
DECLARE
    v_campaign campaigns;
    v_zones text[];
    v_contacted integer := 0;
    v_skipped integer := 0;
    v_count integer;
    v_responded integer;
    v_converted integer;
    v_opted_out integer;
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtext('swb_run_campaigns')) THEN
        RETURN json_build_object('ran', false);
    END IF;
    -- Read once a pass, and only with a campaign running: the view reads the time zone files.
    IF EXISTS (SELECT 1 FROM campaigns WHERE state = 'running') THEN
        SELECT array_agg(name) INTO v_zones FROM pg_timezone_names;
    END IF;
    FOR v_campaign IN SELECT * FROM campaigns WHERE state = 'running' ORDER BY id LOOP
        WITH candidates AS MATERIALIZED (
            SELECT c.id, c.display_name, c.consent, c.erased_at,
                   CASE WHEN c.attributes ->> 'time_zone' = ANY (v_zones) THEN c.attributes ->> 'time_zone' ELSE v_campaign.time_zone END AS zone,
                   coalesce(c.attributes ->> 'language',
                            (SELECT i.language FROM interactions i WHERE i.customer_id = c.id AND i.language IS NOT NULL
                              ORDER BY i.received_at DESC LIMIT 1)) AS language,
                   (SELECT ci.value FROM customer_identities ci
                     WHERE ci.customer_id = c.id
                       AND ci.kind = CASE WHEN v_campaign.channel IN ('sms', 'phone') THEN 'phone' WHEN v_campaign.channel = 'email' THEN 'email'
                                          WHEN v_campaign.channel IN ('chat', 'web') THEN 'chat' WHEN v_campaign.channel = 'fax' THEN 'fax'
                                          WHEN v_campaign.channel = 'social' THEN 'social' ELSE 'external' END
                     LIMIT 1) AS address
              FROM customers c
              LEFT JOIN LATERAL (SELECT min(i.received_at) AS first_at, max(i.received_at) AS last_at
                                   FROM interactions i WHERE i.customer_id = c.id AND i.direction = 'inbound') h ON true
             WHERE c.merged_into IS NULL
               AND NOT EXISTS (SELECT 1 FROM campaign_targets t WHERE t.campaign_id = v_campaign.id AND t.customer_id = c.id)
               AND (NOT v_campaign.target ? 'kind' OR c.kind = v_campaign.target ->> 'kind')
               AND (NOT v_campaign.target ? 'value_tier' OR c.value_tier IN (SELECT jsonb_array_elements_text(v_campaign.target -> 'value_tier')))
               AND (NOT v_campaign.target ? 'segment' OR c.segment IN (SELECT jsonb_array_elements_text(v_campaign.target -> 'segment')))
               AND (NOT v_campaign.target ? 'attributes' OR c.attributes @> (v_campaign.target -> 'attributes'))
               AND (NOT v_campaign.target ? 'last_contact_days'
                    OR (h.last_at <= p_now - coalesce((v_campaign.target -> 'last_contact_days' ->> 'min')::integer, 0) * interval '1 day'
                        AND h.last_at >= p_now - coalesce((v_campaign.target -> 'last_contact_days' ->> 'max')::integer, 36500) * interval '1 day'))
               AND (NOT v_campaign.target ? 'lifecycle'
                    OR (CASE WHEN h.first_at >= p_now - interval '30 days' THEN 'new'
                             WHEN h.last_at >= p_now - interval '90 days' THEN 'active'
                             WHEN h.last_at >= p_now - interval '365 days' THEN 'lapsed'
                             ELSE 'dormant' END) IN (SELECT jsonb_array_elements_text(v_campaign.target -> 'lifecycle')))
        ), judged AS MATERIALIZED (
            SELECT k.*, (p_now AT TIME ZONE k.zone) AS local_time,
                   coalesce(v_campaign.templates ->> k.language, v_campaign.templates ->> split_part(k.language, '-', 1),
                            v_campaign.templates ->> v_campaign.default_language) AS template,
                   CASE WHEN k.erased_at IS NOT NULL THEN 'erased'
                        WHEN k.consent ->> 'do_not_contact' = 'true' THEN 'do_not_contact'
                        WHEN k.consent ->> 'marketing' = 'false' THEN 'opted_out'
                        WHEN k.consent ->> v_campaign.channel = 'false' THEN 'no_consent'
                        WHEN k.address IS NULL THEN 'no_address' END AS skip_reason
              FROM candidates k
        ), chosen AS MATERIALIZED (
            SELECT j.*,
                   CASE WHEN j.skip_reason IS NULL AND j.template IS NULL THEN 'no_template' ELSE j.skip_reason END AS reason,
                   ((date_trunc('day', j.local_time) + v_campaign.window_end) AT TIME ZONE j.zone) AS window_closes
              FROM judged j
             WHERE j.skip_reason IS NOT NULL
                OR (extract(isodow FROM j.local_time)::smallint = ANY (v_campaign.window_days)
                    AND j.local_time::time >= v_campaign.window_start AND j.local_time::time < v_campaign.window_end
                    AND NOT CASE WHEN p_quiet_start IS NULL OR p_quiet_end IS NULL THEN false
                                 WHEN p_quiet_start < p_quiet_end THEN j.local_time::time >= p_quiet_start AND j.local_time::time < p_quiet_end
                                 ELSE j.local_time::time >= p_quiet_start OR j.local_time::time < p_quiet_end END
                    AND (p_cap_count IS NULL
                         OR (SELECT count(*) FROM campaign_targets t
                              WHERE t.customer_id = j.id AND t.state = 'contacted' AND t.contacted_at > p_now - p_cap_days * interval '1 day')
                            < p_cap_count))
             ORDER BY j.id
             LIMIT v_campaign.batch_size
        ), numbered AS MATERIALIZED (
            SELECT c.*, CASE WHEN c.reason IS NULL THEN nextval('interactions_id_seq') END AS interaction_id,
                   CASE WHEN c.reason IS NULL AND v_campaign.mode = 'message' THEN nextval(pg_get_serial_sequence('outbound_messages', 'id')) END
                       AS outbound_id,
                   CASE WHEN c.reason IS NULL AND v_campaign.mode = 'task' THEN nextval(pg_get_serial_sequence('deliveries', 'id')) END
                       AS delivery_id,
                   replace(c.template, '{name}', coalesce(c.display_name, '')) AS body
              FROM chosen c
        ), new_interactions AS (
            INSERT INTO interactions (id, received_at, customer_id, gateway, message_id, channel, direction, occurred_at, intent, process,
                                      language, priority, content_type, body_text, attributes)
            SELECT n.interaction_id, p_now, n.id, 'campaign', 'campaign-' || v_campaign.id || '-' || n.id, v_campaign.channel, 'outbound', p_now,
                   'campaign', coalesce(split_part(v_campaign.queue, '.', 1), 'marketing'), n.language, 0, 'text/plain; charset=utf-8', n.body,
                   jsonb_build_object('campaign', v_campaign.name)
              FROM numbered n WHERE n.interaction_id IS NOT NULL
        ), new_outbound AS (
            INSERT INTO outbound_messages (id, source_key, customer_id, interaction_id, interaction_received_at, campaign_id, author, channel,
                                           language, content_type, body_text, expires_at, created_at)
            OVERRIDING SYSTEM VALUE
            SELECT n.outbound_id, format('campaign:%s:%s', v_campaign.id, n.id), n.id, n.interaction_id, p_now, v_campaign.id,
                   'campaign:' || v_campaign.name, v_campaign.channel, n.language, 'text/plain; charset=utf-8', n.body, n.window_closes, p_now
              FROM numbered n WHERE n.outbound_id IS NOT NULL
        ), new_tasks AS (
            INSERT INTO deliveries (id, interaction_id, interaction_received_at, customer_id, queue, priority, deadline, route_reason, language,
                                    created_at)
            OVERRIDING SYSTEM VALUE
            SELECT n.delivery_id, n.interaction_id, p_now, n.id, v_campaign.queue, 0, p_now + p_task_deadline_ms * interval '1 millisecond',
                   format('campaign %s: an outbound contact', v_campaign.name), n.language, p_now
              FROM numbered n WHERE n.delivery_id IS NOT NULL
        ), new_targets AS (
            INSERT INTO campaign_targets (campaign_id, customer_id, state, skip_reason, language, contacted_at, outbound_id, delivery_id)
            SELECT v_campaign.id, n.id, CASE WHEN n.reason IS NULL THEN 'contacted' ELSE 'skipped' END, n.reason, n.language, p_now,
                   n.outbound_id, n.delivery_id
              FROM numbered n
            RETURNING state
        )
        SELECT count(*) FILTER (WHERE state = 'contacted'), count(*) FILTER (WHERE state = 'skipped') INTO v_count, v_responded
          FROM new_targets;
        v_contacted := v_contacted + v_count;
        v_skipped := v_skipped + v_responded;
    END LOOP;

    -- Attribution, for every campaign's targets still inside their response window.
    WITH open_targets AS MATERIALIZED (
        -- A target merged into another customer since is that customer now (its contacts are stored there).
        SELECT t.campaign_id, t.customer_id, coalesce(u.merged_into, t.customer_id) AS person, t.contacted_at, t.delivery_id,
               t.responded_at, t.converted_at, t.opted_out_at, t.contacted_at + c.response_days * interval '1 day' AS window_end,
               c.conversion_outcomes
          FROM campaigns c JOIN campaign_targets t ON t.campaign_id = c.id JOIN customers u ON u.id = t.customer_id
         WHERE t.state = 'contacted' AND t.contacted_at > p_now - c.response_days * interval '1 day' - interval '1 hour'
    ), found AS MATERIALIZED (
        SELECT o.campaign_id, o.customer_id,
               r.id AS response_id, r.received_at AS responded_at,
               (SELECT min(d.completed_at)
                  FROM interactions i JOIN deliveries d ON d.interaction_id = i.id AND d.interaction_received_at = i.received_at
                 WHERE i.customer_id = o.person AND i.received_at >= o.contacted_at AND i.received_at <= o.window_end
                   AND d.state = 'done' AND d.outcome = ANY (o.conversion_outcomes)) AS converted_at,
               (SELECT min(x.changed_at) FROM consent_changes x
                 WHERE x.customer_id = o.person AND x.purpose = 'marketing' AND NOT x.granted
                   AND x.changed_at >= o.contacted_at AND x.changed_at <= o.window_end) AS opted_out_at
          FROM open_targets o
          LEFT JOIN LATERAL (SELECT i.id, i.received_at FROM interactions i
                              WHERE i.customer_id = o.person AND i.direction = 'inbound'
                                AND i.received_at > o.contacted_at AND i.received_at <= o.window_end
                              ORDER BY i.received_at LIMIT 1) r ON true
    ), updated AS (
        UPDATE campaign_targets t
           SET response_interaction_id = coalesce(t.response_interaction_id, f.response_id), responded_at = coalesce(t.responded_at, f.responded_at),
               converted_at = coalesce(t.converted_at, f.converted_at), opted_out_at = coalesce(t.opted_out_at, f.opted_out_at)
          FROM found f
         WHERE t.campaign_id = f.campaign_id AND t.customer_id = f.customer_id
           AND ((t.responded_at IS NULL AND f.responded_at IS NOT NULL) OR (t.converted_at IS NULL AND f.converted_at IS NOT NULL)
                OR (t.opted_out_at IS NULL AND f.opted_out_at IS NOT NULL))
        RETURNING t.responded_at, t.converted_at, t.opted_out_at
    )
    SELECT count(*), count(converted_at), count(opted_out_at) INTO v_responded, v_converted, v_opted_out FROM updated;
    RETURN json_build_object('ran', true, 'contacted', v_contacted, 'skipped', v_skipped, 'attributed', v_responded);
END $$;

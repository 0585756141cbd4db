-- The monthly partition of interactions that holds p_at, created if missing. Rows of that month
-- already in interactions_default (written before the partition existed: a restore, a long
-- outage) are moved into it in the same transaction, since a partition cannot be made over them.
-- The hub calls it at start and every hour for this month and the next. Hubs sharing the database
-- take turns (a transaction-scoped advisory lock): the second finds the partition made.
CREATE FUNCTION swb_ensure_interaction_partition(
    p_at timestamp with time zone)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    v_start timestamp := date_trunc('month', p_at AT TIME ZONE 'UTC');
    v_from  timestamptz := v_start AT TIME ZONE 'UTC';
    v_to    timestamptz := (v_start + interval '1 month') AT TIME ZONE 'UTC';
    v_name  text := format('interactions_%s', to_char(v_start, 'YYYY_MM'));
    v_moved bigint;
BEGIN
    IF to_regclass(v_name) IS NOT NULL THEN
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('swb_ensure_interaction_partition'));
    IF to_regclass(v_name) IS NOT NULL THEN
        RETURN;
    END IF;
    BEGIN
        EXECUTE format('CREATE TABLE %I PARTITION OF interactions FOR VALUES FROM (%L) TO (%L)', v_name, v_from, v_to);
    EXCEPTION WHEN check_violation THEN
        EXECUTE format('CREATE TABLE %I (LIKE interactions INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', v_name);
        EXECUTE format('WITH moved AS (DELETE FROM interactions_default WHERE received_at >= %L AND received_at < %L RETURNING *)
                        INSERT INTO %I SELECT * FROM moved', v_from, v_to, v_name);
        GET DIAGNOSTICS v_moved = ROW_COUNT;
        EXECUTE format('ALTER TABLE interactions ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', v_name, v_from, v_to);
        RAISE NOTICE 'moved % rows of % from interactions_default into %', v_moved, to_char(v_start, 'YYYY-MM'), v_name;
    WHEN duplicate_table THEN
        -- Made by another hub between the look-up and the creation.
        RETURN;
    END;
END $$;

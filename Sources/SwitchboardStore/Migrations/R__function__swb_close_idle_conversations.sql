-- Closes the open conversations with no message either way for p_idle_minutes; answers how many.
CREATE FUNCTION swb_close_idle_conversations(p_idle_minutes integer)
RETURNS integer
LANGUAGE sql
AS $$
    WITH closed AS (
        UPDATE conversations SET state = 'closed', closed_at = now(), closed_reason = 'inactive'
         WHERE state = 'open' AND last_activity_at < now() - p_idle_minutes * interval '1 minute'
        RETURNING 1
    )
    SELECT count(*)::integer FROM closed
$$;

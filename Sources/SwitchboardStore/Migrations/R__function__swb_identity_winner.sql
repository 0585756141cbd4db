-- Identity resolution's rule when one message's hints name several customers: the lowest
-- customer id wins (the customer known longest), and hints no customer has yet are given to it.
-- Ingest calls this for every stored message (swb_ingest_round); a SQL function this simple is
-- inlined into the calling statement, so the rule is named here at no cost. Merging the customers
-- such a message links replaces this rule.
CREATE FUNCTION swb_identity_winner(
    p_phone bigint, p_email bigint, p_external bigint, p_device bigint, p_fax bigint, p_chat bigint, p_social bigint)
RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT least(p_phone, p_email, p_external, p_device, p_fax, p_chat, p_social) $$;

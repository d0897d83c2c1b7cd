
CREATE TABLE grants (
    did text PRIMARY KEY,
    routing_did text NOT NULL,
    granted_at bigint NOT NULL
);
CREATE TABLE keys (
    key text PRIMARY KEY,
    did text NOT NULL
);
CREATE INDEX keys_by_did ON keys (did, key);
CREATE TABLE messages (
    seq bigserial PRIMARY KEY,
    recipient text NOT NULL,
    id text NOT NULL,
    body bytea NOT NULL,
    size bigint NOT NULL,
    received_at bigint NOT NULL,
    expires_at bigint NOT NULL,
    UNIQUE (recipient, id)
);
CREATE INDEX messages_by_queue ON messages (recipient, received_at, seq);
CREATE INDEX messages_by_expiry ON messages (expires_at);
CREATE TABLE queues (
    recipient text PRIMARY KEY,
    count bigint NOT NULL,
    bytes bigint NOT NULL
);
-- 0 stored, 1 duplicate, 2 over quota.
CREATE FUNCTION didcomm_edge_store(p_recipient text, p_id text, p_body bytea,
        p_received bigint, p_expires bigint, p_max_count bigint, p_max_bytes bigint)
    RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    q_count bigint;
    q_bytes bigint;
    inserted integer;
BEGIN
    INSERT INTO queues (recipient, count, bytes) VALUES (p_recipient, 0, 0)
        ON CONFLICT (recipient) DO NOTHING;
    SELECT count, bytes INTO q_count, q_bytes FROM queues
        WHERE recipient = p_recipient FOR UPDATE;
    IF EXISTS (SELECT 1 FROM messages WHERE recipient = p_recipient AND id = p_id) THEN
        RETURN 1;
    END IF;
    IF q_count + 1 > p_max_count OR q_bytes + length(p_body) > p_max_bytes THEN
        RETURN 2;
    END IF;
    INSERT INTO messages (recipient, id, body, size, received_at, expires_at)
        VALUES (p_recipient, p_id, p_body, length(p_body), p_received, p_expires)
        ON CONFLICT (recipient, id) DO NOTHING;
    GET DIAGNOSTICS inserted = ROW_COUNT;
    IF inserted = 0 THEN
        RETURN 1;
    END IF;
    UPDATE queues SET count = count + 1, bytes = bytes + length(p_body)
        WHERE recipient = p_recipient;
    RETURN 0;
END $$;

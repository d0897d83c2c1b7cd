
CREATE TABLE tombstones (
    recipient text NOT NULL,
    id text NOT NULL,
    expires_at bigint NOT NULL,
    PRIMARY KEY (recipient, id)
);
CREATE INDEX tombstones_by_expiry ON tombstones (expires_at);
ALTER TABLE keys ADD COLUMN key_did text;
CREATE INDEX keys_by_key_did ON keys (key_did);
-- As before, and an acknowledged id (a tombstone) counts as a duplicate until it expires.
CREATE OR REPLACE FUNCTION didcomm_edge_store(p_recipient text, p_id text, p_body bytea,
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
    IF EXISTS (SELECT 1 FROM messages WHERE recipient = p_recipient AND id = p_id)
        OR EXISTS (SELECT 1 FROM tombstones WHERE recipient = p_recipient AND id = p_id) THEN
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


CREATE TABLE namespaces (
    did text PRIMARY KEY,
    owner text NOT NULL
);
CREATE INDEX namespaces_by_owner ON namespaces (owner);
ALTER TABLE queues ADD COLUMN did text, ADD COLUMN owner text;
CREATE INDEX queues_by_did ON queues (did);
CREATE TABLE devices (
    owner text PRIMARY KEY,
    count bigint NOT NULL,
    bytes bigint NOT NULL
);
CREATE TABLE budget (
    id integer PRIMARY KEY CHECK (id = 1),
    count bigint NOT NULL,
    bytes bigint NOT NULL
);
INSERT INTO budget (id, count, bytes)
    SELECT 1, coalesce(sum(count), 0), coalesce(sum(bytes), 0) FROM queues;
CREATE FUNCTION didcomm_edge_count_queue() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    d_count bigint := 0;
    d_bytes bigint := 0;
BEGIN
    IF TG_OP = 'UPDATE' OR TG_OP = 'DELETE' THEN
        UPDATE devices SET count = count - OLD.count, bytes = bytes - OLD.bytes
            WHERE owner = coalesce(OLD.owner, '');
        d_count := d_count - OLD.count;
        d_bytes := d_bytes - OLD.bytes;
    END IF;
    IF TG_OP = 'UPDATE' OR TG_OP = 'INSERT' THEN
        INSERT INTO devices (owner, count, bytes)
            VALUES (coalesce(NEW.owner, ''), NEW.count, NEW.bytes)
            ON CONFLICT (owner) DO UPDATE SET count = devices.count + excluded.count,
                bytes = devices.bytes + excluded.bytes;
        d_count := d_count + NEW.count;
        d_bytes := d_bytes + NEW.bytes;
    END IF;
    UPDATE budget SET count = count + d_count, bytes = bytes + d_bytes WHERE id = 1;
    RETURN NULL;
END $$;
CREATE TRIGGER queues_counted AFTER INSERT OR UPDATE OF count, bytes, owner OR DELETE
    ON queues FOR EACH ROW EXECUTE PROCEDURE didcomm_edge_count_queue();
UPDATE queues q SET owner = k.did FROM keys k WHERE k.key = q.recipient;
DROP FUNCTION didcomm_edge_store(text, text, bytea, bigint, bigint, bigint, bigint);
-- 0 stored, 1 duplicate, 2 queue full, 3 device full, 4 budget used up, 5 namespace held by
-- another DID.
CREATE FUNCTION didcomm_edge_store(p_recipient text, p_did text, p_owner text, p_id text,
        p_body bytea, p_received bigint, p_expires bigint, p_max_count bigint,
        p_max_bytes bigint, p_device_count bigint, p_device_bytes bigint, p_total_bytes bigint)
    RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    q_count bigint;
    q_bytes bigint;
    ns_owner text;
    size bigint := length(p_body);
    inserted integer;
BEGIN
    PERFORM 1 FROM budget WHERE id = 1 FOR UPDATE;
    IF EXISTS (SELECT 1 FROM messages WHERE recipient = p_recipient AND id = p_id)
        OR EXISTS (SELECT 1 FROM tombstones WHERE recipient = p_recipient AND id = p_id) THEN
        RETURN 1;
    END IF;
    SELECT owner INTO ns_owner FROM namespaces WHERE did = p_did;
    IF ns_owner IS NULL THEN
        -- A queued message holds the namespace for its owner.
        INSERT INTO namespaces (did, owner) VALUES (p_did, p_owner);
    ELSIF ns_owner <> p_owner THEN
        -- Held by another DID (the key changed hands since the lookup): never re-bound.
        IF EXISTS (SELECT 1 FROM keys WHERE key_did = p_did)
            OR EXISTS (SELECT 1 FROM queues WHERE did = p_did AND count > 0) THEN
            RETURN 5;
        END IF;
        UPDATE namespaces SET owner = p_owner WHERE did = p_did;
    END IF;
    SELECT count, bytes INTO q_count, q_bytes FROM queues WHERE recipient = p_recipient;
    IF coalesce(q_count, 0) + 1 > p_max_count OR coalesce(q_bytes, 0) + size > p_max_bytes THEN
        RETURN 2;
    END IF;
    SELECT count, bytes INTO q_count, q_bytes FROM devices WHERE owner = p_owner;
    IF coalesce(q_count, 0) + 1 > p_device_count
        OR coalesce(q_bytes, 0) + size > p_device_bytes THEN
        RETURN 3;
    END IF;
    IF (SELECT bytes FROM budget WHERE id = 1) + size > p_total_bytes THEN
        RETURN 4;
    END IF;
    INSERT INTO messages (recipient, id, body, size, received_at, expires_at)
        VALUES (p_recipient, p_id, p_body, size, p_received, p_expires)
        ON CONFLICT (recipient, id) DO NOTHING;
    GET DIAGNOSTICS inserted = ROW_COUNT;
    IF inserted = 0 THEN
        RETURN 1;
    END IF;
    INSERT INTO queues (recipient, did, owner, count, bytes)
        VALUES (p_recipient, p_did, p_owner, 1, size)
        ON CONFLICT (recipient) DO UPDATE SET count = queues.count + 1,
            bytes = queues.bytes + excluded.bytes, did = excluded.did, owner = excluded.owner;
    RETURN 0;
END $$;


CREATE TABLE namespaces (
    did TEXT PRIMARY KEY,
    owner TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX namespaces_by_owner ON namespaces (owner);
ALTER TABLE queues ADD COLUMN did TEXT;
ALTER TABLE queues ADD COLUMN owner TEXT;
CREATE INDEX queues_by_did ON queues (did);
CREATE TABLE devices (
    owner TEXT PRIMARY KEY,
    count INTEGER NOT NULL,
    bytes INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE budget (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    count INTEGER NOT NULL,
    bytes INTEGER NOT NULL
);
INSERT INTO budget (id, count, bytes)
    SELECT 1, coalesce(sum(count), 0), coalesce(sum(bytes), 0) FROM queues;
CREATE TRIGGER queues_counted_insert AFTER INSERT ON queues BEGIN
    INSERT INTO devices (owner, count, bytes) SELECT coalesce(new.owner, ''), 0, 0
        WHERE NOT EXISTS (SELECT 1 FROM devices WHERE owner = coalesce(new.owner, ''));
    UPDATE devices SET count = count + new.count, bytes = bytes + new.bytes
        WHERE owner = coalesce(new.owner, '');
    UPDATE budget SET count = count + new.count, bytes = bytes + new.bytes;
END;
CREATE TRIGGER queues_counted_update AFTER UPDATE OF count, bytes, owner ON queues BEGIN
    UPDATE devices SET count = count - old.count, bytes = bytes - old.bytes
        WHERE owner = coalesce(old.owner, '');
    INSERT INTO devices (owner, count, bytes) SELECT coalesce(new.owner, ''), 0, 0
        WHERE NOT EXISTS (SELECT 1 FROM devices WHERE owner = coalesce(new.owner, ''));
    UPDATE devices SET count = count + new.count, bytes = bytes + new.bytes
        WHERE owner = coalesce(new.owner, '');
    UPDATE budget SET count = count - old.count + new.count,
        bytes = bytes - old.bytes + new.bytes;
END;
CREATE TRIGGER queues_counted_delete AFTER DELETE ON queues BEGIN
    UPDATE devices SET count = count - old.count, bytes = bytes - old.bytes
        WHERE owner = coalesce(old.owner, '');
    UPDATE budget SET count = count - old.count, bytes = bytes - old.bytes;
END;
UPDATE queues SET owner = (SELECT did FROM keys WHERE keys.key = queues.recipient);

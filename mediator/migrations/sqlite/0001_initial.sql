
CREATE TABLE grants (
    did TEXT PRIMARY KEY,
    routing_did TEXT NOT NULL,
    granted_at INTEGER NOT NULL
);
CREATE TABLE keys (
    key TEXT PRIMARY KEY,
    did TEXT NOT NULL
);
CREATE INDEX keys_by_did ON keys (did, key);
CREATE TABLE messages (
    seq INTEGER PRIMARY KEY,
    recipient TEXT NOT NULL,
    id TEXT NOT NULL,
    body BLOB NOT NULL,
    size INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    UNIQUE (recipient, id)
);
CREATE INDEX messages_by_queue ON messages (recipient, received_at);
CREATE INDEX messages_by_expiry ON messages (expires_at);
CREATE TABLE queues (
    recipient TEXT PRIMARY KEY,
    count INTEGER NOT NULL,
    bytes INTEGER NOT NULL
) WITHOUT ROWID;


CREATE TABLE tombstones (
    recipient TEXT NOT NULL,
    id TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (recipient, id)
) WITHOUT ROWID;
CREATE INDEX tombstones_by_expiry ON tombstones (expires_at);
ALTER TABLE keys ADD COLUMN key_did TEXT;
CREATE INDEX keys_by_key_did ON keys (key_did);

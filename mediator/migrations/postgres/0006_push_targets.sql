
CREATE TABLE push_targets (
    did text PRIMARY KEY,
    platform text NOT NULL,
    token text NOT NULL,
    updated_at bigint NOT NULL
);

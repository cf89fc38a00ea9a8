-- +goose Up
-- The audit trail (SPEC 8.5): one row per answer that reached a user,
-- hash-chained per user in seq order. answer_id is unique so that a retried
-- write is skipped. audit_anchors keeps, per user, the hash of the last
-- record pruned by audit.retention: the prev_hash the oldest kept record
-- must name.
CREATE TABLE audit (
    seq                  INTEGER PRIMARY KEY AUTOINCREMENT,
    answer_id            TEXT NOT NULL UNIQUE,
    conversation_id      TEXT NOT NULL,
    user_id              TEXT NOT NULL,
    session_id           TEXT NOT NULL,
    node_id              TEXT NOT NULL,
    at                   TIMESTAMP NOT NULL,
    provider             TEXT NOT NULL,
    model                TEXT NOT NULL,
    prompt_version       TEXT NOT NULL,
    system_prompt_sha256 TEXT NOT NULL,
    history_sha256       TEXT NOT NULL,
    question             TEXT NOT NULL,
    answer               TEXT NOT NULL,
    finish_reason        TEXT NOT NULL,
    cached               BOOLEAN NOT NULL,
    prompt_tokens        BIGINT,
    completion_tokens    BIGINT,
    ttft_ms              BIGINT NOT NULL,
    prev_hash            TEXT NOT NULL,
    hash                 TEXT NOT NULL
);

CREATE INDEX audit_user ON audit (user_id, seq);
CREATE INDEX audit_at ON audit (at);

CREATE TABLE audit_anchors (
    user_id       TEXT PRIMARY KEY,
    hash          TEXT NOT NULL,
    pruned_before TIMESTAMP NOT NULL
);

-- +goose Up
-- Conversations and their messages (protocol 1.1), the same schema as
-- PostgreSQL's. A user has at most one open conversation (ended_at NULL),
-- the current one; a user without any row is in the conversation
-- store.FirstConversationID derives from their id. Neither table references
-- users: an operator's profile query may keep the accounts in a table of
-- their own, and a stored message must never be refused for a row elsewhere.
CREATE TABLE conversations (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL,
    started_at TIMESTAMP NOT NULL,
    ended_at   TIMESTAMP
);

CREATE UNIQUE INDEX conversations_open ON conversations (user_id) WHERE ended_at IS NULL;
CREATE INDEX conversations_user ON conversations (user_id);

-- seq is the order messages were stored in, which pages follow
-- (AUTOINCREMENT: never reused, even once the newest message is pruned); id
-- is the message id clients see and page by, derived from the answer so
-- that a retried write is skipped.
CREATE TABLE messages (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT NOT NULL UNIQUE,
    conversation_id TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    role            TEXT NOT NULL,
    content         TEXT NOT NULL,
    answer_id       TEXT NOT NULL DEFAULT '',
    reply_to        TEXT NOT NULL DEFAULT '',
    cached          BOOLEAN NOT NULL DEFAULT false,
    finish_reason   TEXT NOT NULL DEFAULT '',
    at              TIMESTAMP NOT NULL
);

-- The last N of a conversation and the page before a message: a backward
-- range scan. Pruning: a range on at.
CREATE INDEX messages_conversation ON messages (conversation_id, seq);
CREATE INDEX messages_at ON messages (at);

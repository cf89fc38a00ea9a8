-- +goose Up
-- Users and their financial profiles. A profile row is optional: a user
-- without one chats with an empty profile. The same schema as SQLite's, in
-- PostgreSQL's own types.
CREATE TABLE users (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL DEFAULT '',
    disabled   BOOLEAN NOT NULL DEFAULT false,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE profiles (
    user_id          TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    currency         TEXT,
    monthly_income   DOUBLE PRECISION,
    monthly_expenses DOUBLE PRECISION,
    savings          DOUBLE PRECISION,
    debts            DOUBLE PRECISION,
    risk_tolerance   TEXT,
    goals            TEXT, -- JSON array of strings
    experience       TEXT,
    updated_at       TIMESTAMPTZ
);

-- +goose Up
-- Users and their financial profiles. A profile row is optional: a user
-- without one chats with an empty profile.
CREATE TABLE users (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL DEFAULT '',
    disabled   BOOLEAN NOT NULL DEFAULT false,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE profiles (
    user_id          TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    currency         TEXT,
    monthly_income   REAL,
    monthly_expenses REAL,
    savings          REAL,
    debts            REAL,
    risk_tolerance   TEXT,
    goals            TEXT, -- JSON array of strings
    experience       TEXT,
    updated_at       TIMESTAMP
);

-- Identity: accounts (customers and staff), their sessions, addresses, sellers and API keys.

-- One table for both kinds of account: an email is unique per kind, so the same person may be a
-- customer and a staff member with separate passwords.
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    kind          TEXT NOT NULL,            -- customer | staff
    email         TEXT NOT NULL,            -- lowercase
    password_hash TEXT NOT NULL,            -- argon2id PHC string
    first_name    TEXT,                     -- customers
    last_name     TEXT,                     -- customers
    name          TEXT,                     -- staff
    tier          TEXT,                     -- customers: standard | vip
    roles         TEXT NOT NULL,            -- staff: JSON array of role names, [] for customers
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    UNIQUE (kind, email)
);
CREATE INDEX users_by_kind_created ON users (kind, created_at, id);

-- A login. The refresh token is stored only as its SHA-256; the access token (a JWT) carries the
-- session id so that revoking the session stops both.
CREATE TABLE sessions (
    id                 TEXT PRIMARY KEY,
    user_id            TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    user_kind          TEXT NOT NULL,
    refresh_token_hash TEXT NOT NULL UNIQUE,
    created_at         TEXT NOT NULL,
    refreshed_at       TEXT,
    expires_at         TEXT NOT NULL,
    revoked_at         TEXT
);
CREATE INDEX sessions_by_user ON sessions (user_id);

-- Refresh tokens already exchanged. Seeing one again means it was stolen (or replayed): the
-- session it belonged to is revoked.
CREATE TABLE retired_refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    retired_at TEXT NOT NULL
);
CREATE INDEX retired_refresh_tokens_by_session ON retired_refresh_tokens (session_id);

CREATE TABLE addresses (
    id          TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,              -- shipping | billing
    name        TEXT NOT NULL,
    line1       TEXT NOT NULL,
    line2       TEXT,
    city        TEXT NOT NULL,
    postal_code TEXT NOT NULL,
    region      TEXT,
    country     TEXT NOT NULL,              -- ISO 3166-1 alpha-2
    phone       TEXT,
    is_default  BOOLEAN NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX addresses_by_customer ON addresses (customer_id, created_at, id);

CREATE TABLE sellers (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    email      TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX sellers_by_created ON sellers (created_at, id);

-- The key itself is shown once at creation; only its prefix (to recognise it) and its SHA-256 (to
-- look it up) are kept.
CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    key_hash     TEXT NOT NULL UNIQUE,
    scopes       TEXT NOT NULL,             -- JSON array of permission names
    created_at   TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT
);
CREATE INDEX api_keys_by_created ON api_keys (created_at, id);

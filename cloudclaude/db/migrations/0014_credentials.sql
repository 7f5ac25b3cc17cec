-- Claude Code credentials held by the server (issue 18): named API keys sealed with the server
-- key, their assignment to users, the team default, each forwarded request's token counts, and
-- per-user monthly budgets. Nothing of a prompt or an answer is stored.

-- A named API key. ``key_enc`` is sealed (purpose ``llm-credential``, bound to the row's id);
-- ``key_hint`` is its last four characters, for masks. ``owner_user_id`` set: a user's own key
-- (only they use it); NULL: an admin's key, assigned to users or the team default.
CREATE TABLE llm_credentials (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name           text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 64),
    key_enc        bytea NOT NULL,
    key_hint       text NOT NULL CHECK (length(key_hint) <= 4),
    owner_user_id  uuid REFERENCES users (id) ON DELETE CASCADE,
    is_default     boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now(),
    rotated_at     timestamptz,
    created_by     text NOT NULL DEFAULT '',
    CHECK (NOT (is_default AND owner_user_id IS NOT NULL))
);
-- At most one team default.
CREATE UNIQUE INDEX llm_credentials_one_default ON llm_credentials (is_default) WHERE is_default;
CREATE INDEX llm_credentials_owner ON llm_credentials (owner_user_id, created_at);

-- An admin key assigned to users; a user has at most one assigned key.
CREATE TABLE llm_credential_users (
    credential_id  uuid NOT NULL REFERENCES llm_credentials (id) ON DELETE CASCADE,
    user_id        uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id)
);
CREATE INDEX llm_credential_users_credential ON llm_credential_users (credential_id);

-- One row per forwarded Messages request. No foreign keys: rows outlive their host, user and
-- key (team totals stay whole), and ``username``/``host_short_id``/``credential_name`` keep
-- the names readable after those are gone. ``kind``: 'team' (an admin key), 'user' (the
-- user's own stored key), 'own' (the user's own bearer passed through; no credential).
CREATE TABLE llm_usage (
    id                     bigserial PRIMARY KEY,
    at                     timestamptz NOT NULL DEFAULT now(),
    user_id                uuid NOT NULL,
    username               text NOT NULL DEFAULT '',
    host_id                uuid,
    host_short_id          text NOT NULL DEFAULT '',
    credential_id          uuid,
    credential_name        text NOT NULL DEFAULT '',
    kind                   text NOT NULL CHECK (kind IN ('team', 'user', 'own')),
    model                  text NOT NULL CHECK (length(model) <= 200),
    input_tokens           bigint NOT NULL DEFAULT 0 CHECK (input_tokens >= 0),
    output_tokens          bigint NOT NULL DEFAULT 0 CHECK (output_tokens >= 0),
    cache_creation_tokens  bigint NOT NULL DEFAULT 0 CHECK (cache_creation_tokens >= 0),
    cache_read_tokens      bigint NOT NULL DEFAULT 0 CHECK (cache_read_tokens >= 0),
    status                 integer NOT NULL,
    latency_ms             integer NOT NULL DEFAULT 0
);
CREATE INDEX llm_usage_at ON llm_usage (at);
CREATE INDEX llm_usage_user_at ON llm_usage (user_id, at);
CREATE INDEX llm_usage_host_at ON llm_usage (host_id, at);
CREATE INDEX llm_usage_username_at ON llm_usage (username, at);
CREATE INDEX llm_usage_host_short_id_at ON llm_usage (host_short_id, at);

-- NULL budget: the team default (credentials.default_monthly_tokens) applies. llm_gateway
-- false: the user runs Claude Code with their own subscription; their boxes get no gateway
-- environment. budget_notice_month: the first day of the month whose 80% notice was audited.
ALTER TABLE users ADD COLUMN monthly_token_budget bigint CHECK (monthly_token_budget >= 0);
ALTER TABLE users ADD COLUMN llm_gateway boolean NOT NULL DEFAULT true;
ALTER TABLE users ADD COLUMN budget_notice_month date;

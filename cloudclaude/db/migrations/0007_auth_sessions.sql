-- Sessions that end when they should (issue 15).
-- Every API token and page cookie names a row here (its ``sid`` claim): logout deletes the row,
-- and a token whose row is gone is refused. ``authenticated_at`` is when the password was last
-- given in this session (recent-auth for sensitive changes). ``scope`` is 'full' or
-- 'bootstrap' (a token that can only do the bootstrap steps).
-- ``users.session_epoch`` goes up whenever all of a user's sessions must end (password change or
-- reset, disable, expiry, demotion): rows of an older epoch are refused, and live SSE streams,
-- web terminals and SSH sessions opened under an older epoch are closed.
ALTER TABLE users ADD COLUMN session_epoch bigint NOT NULL DEFAULT 0;

CREATE TABLE auth_sessions (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id           uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    epoch             bigint NOT NULL,
    scope             text NOT NULL DEFAULT 'full' CHECK (scope IN ('full', 'bootstrap')),
    authenticated_at  timestamptz NOT NULL DEFAULT now(),
    created_at        timestamptz NOT NULL DEFAULT now(),
    expires_at        timestamptz NOT NULL
);
CREATE INDEX auth_sessions_user ON auth_sessions (user_id);
CREATE INDEX auth_sessions_expires ON auth_sessions (expires_at);

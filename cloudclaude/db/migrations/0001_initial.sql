-- The whole data model of DESIGN.md section 4. Later features fill these tables.

CREATE TABLE users (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    username       text NOT NULL UNIQUE CHECK (username ~ '^[a-z][a-z0-9._-]{0,31}$'),
    password_hash  text NOT NULL,
    role           text NOT NULL CHECK (role IN ('admin', 'user')),
    status         text NOT NULL DEFAULT 'active'
                   CHECK (status IN ('active', 'disabled', 'expired')),
    expires_at     timestamptz,
    max_hosts      integer NOT NULL DEFAULT 1 CHECK (max_hosts >= 0),
    last_login_at  timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX users_created_at ON users (created_at, id);

CREATE TABLE ssh_keys (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         text NOT NULL DEFAULT '',
    public_key   text NOT NULL,
    fingerprint  text NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ssh_keys_user ON ssh_keys (user_id);

-- JWT key ring. Keys are derived from the server key and the kid, so nothing secret is stored.
CREATE TABLE signing_keys (
    kid         text PRIMARY KEY,
    created_at  timestamptz NOT NULL DEFAULT now(),
    retired_at  timestamptz
);

CREATE TABLE hosts (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    short_id             text NOT NULL UNIQUE CHECK (short_id ~ '^[a-z0-9]{6,16}$'),
    user_id              uuid NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    status               text NOT NULL DEFAULT 'pending' CHECK (status IN (
                             'pending', 'starting', 'running', 'degraded', 'stopping',
                             'stopped', 'failed', 'deleting', 'deleted')),
    desired_state        text NOT NULL DEFAULT 'stopped'
                         CHECK (desired_state IN ('running', 'stopped', 'deleted')),
    image_ref            text,
    home_volume          text,
    cpus                 numeric(6, 2) NOT NULL DEFAULT 2 CHECK (cpus > 0),
    memory_mb            integer NOT NULL DEFAULT 4096 CHECK (memory_mb > 0),
    pids                 integer NOT NULL DEFAULT 1024 CHECK (pids > 0),
    disk_gb              integer NOT NULL DEFAULT 20 CHECK (disk_gb > 0),
    timezone             text NOT NULL DEFAULT 'UTC',
    ssh_password_hash    text,
    box_public_key       text,
    box_private_key_enc  bytea,
    error_code           text,
    error_message        text,
    last_activity_at     timestamptz,
    last_used_at         timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX hosts_user ON hosts (user_id);
CREATE INDEX hosts_status ON hosts (status);

CREATE TABLE egress_ips (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    label               text NOT NULL UNIQUE,
    kind                text NOT NULL CHECK (kind IN (
                            'direct', 'socks5', 'http', 'shadowsocks', 'vmess', 'vless', 'trojan')),
    expected_ip         inet,
    server              text,
    port                integer CHECK (port BETWEEN 1 AND 65535),
    config              jsonb NOT NULL DEFAULT '{}'::jsonb,  -- secrets sealed with the server key
    dns_server          inet,
    expected_resolvers  inet[],
    verify_url          text,
    verify_dns_name     text,
    status              text NOT NULL DEFAULT 'unverified'
                        CHECK (status IN ('unverified', 'ok', 'failed')),
    last_verified_at    timestamptz,
    detected_ip         inet,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE host_egress_bindings (
    host_id       uuid PRIMARY KEY REFERENCES hosts (id) ON DELETE CASCADE,
    egress_ip_id  uuid NOT NULL REFERENCES egress_ips (id) ON DELETE RESTRICT,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX host_egress_bindings_exit ON host_egress_bindings (egress_ip_id);

CREATE TABLE tasks (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    host_id           uuid REFERENCES hosts (id) ON DELETE CASCADE,
    kind              text NOT NULL,
    status            text NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'canceled')),
    params            jsonb NOT NULL DEFAULT '{}'::jsonb,
    attempt           integer NOT NULL DEFAULT 0,
    max_attempts      integer NOT NULL DEFAULT 3,
    run_after         timestamptz NOT NULL DEFAULT now(),
    lease_owner       text,
    lease_expires_at  timestamptz,
    requested_by      uuid,
    cancel_requested  boolean NOT NULL DEFAULT false,
    error_code        text,
    error_message     text,
    progress_percent  integer NOT NULL DEFAULT 0 CHECK (progress_percent BETWEEN 0 AND 100),
    progress_message  text NOT NULL DEFAULT '',
    created_at        timestamptz NOT NULL DEFAULT now(),
    started_at        timestamptz,
    finished_at       timestamptz,
    updated_at        timestamptz NOT NULL DEFAULT now()
);
-- One active task per host.
CREATE UNIQUE INDEX tasks_one_active_per_host ON tasks (host_id)
    WHERE status IN ('pending', 'running');
CREATE INDEX tasks_claimable ON tasks (run_after) WHERE status = 'pending';
CREATE INDEX tasks_created_at ON tasks (created_at DESC);

CREATE TABLE task_events (
    id       bigserial PRIMARY KEY,
    task_id  uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    seq      integer NOT NULL,
    code     text NOT NULL,
    message  text NOT NULL DEFAULT '',
    at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (task_id, seq)
);

-- Append-only audit log: no foreign keys, so events outlive the users and hosts they name.
CREATE TABLE audit_events (
    id             bigserial PRIMARY KEY,
    type           text NOT NULL,
    actor          text NOT NULL,
    actor_user_id  uuid,
    user_id        uuid,
    host_id        uuid,
    source_ip      inet,
    metadata       jsonb NOT NULL DEFAULT '{}'::jsonb,
    at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_events_at ON audit_events (at);
CREATE INDEX audit_events_type ON audit_events (type, at);
CREATE INDEX audit_events_user ON audit_events (user_id, at);
CREATE INDEX audit_events_host ON audit_events (host_id, at);

CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only';
END $$;
CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();

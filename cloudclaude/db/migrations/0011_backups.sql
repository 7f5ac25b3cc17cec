-- Backups: one row per ``cloudclaudectl backup create`` or scheduled run, so the dashboard and
-- the ctl show each one, failures included. The backup itself lives in the restic repository
-- (its manifest is the snapshot tagged ``cloudclaude-manifest`` and ``backup=<id>``).
CREATE TABLE backups (
    id uuid PRIMARY KEY,
    trigger text NOT NULL CHECK (trigger IN ('manual', 'schedule')),
    actor text NOT NULL,
    status text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'succeeded', 'failed')),
    started_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    size_bytes bigint NOT NULL DEFAULT 0,
    homes integer NOT NULL DEFAULT 0,
    skipped integer NOT NULL DEFAULT 0,
    error_code text,
    error_message text
);
CREATE INDEX backups_started_at ON backups (started_at DESC);

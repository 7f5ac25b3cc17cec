-- The optional per-host domain allowlist: empty means every destination (through the exit).
ALTER TABLE hosts ADD COLUMN allowed_domains text[] NOT NULL DEFAULT '{}';

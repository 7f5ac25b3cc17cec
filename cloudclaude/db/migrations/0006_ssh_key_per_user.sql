-- A public key's fingerprint is unique per user, not across users: one user cannot squat
-- another's key by registering it first. The SSH proxy checks the routed user's own keys.
ALTER TABLE ssh_keys DROP CONSTRAINT ssh_keys_fingerprint_key;
ALTER TABLE ssh_keys ADD CONSTRAINT ssh_keys_user_fingerprint_key UNIQUE (user_id, fingerprint);

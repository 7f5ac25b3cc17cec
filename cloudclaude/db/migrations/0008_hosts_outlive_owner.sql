-- Deleted hosts outlive their owner: deleting a user keeps the rows of their deleted hosts
-- (the audit trail). ``user_id`` becomes NULL when the owner row goes (ON DELETE SET NULL) and
-- ``former_user_id`` keeps who owned the host, as ``audit_events.user_id`` does; a host that is
-- not deleted always has an owner, so deleting a user who still has one fails here too.
ALTER TABLE hosts ADD COLUMN former_user_id uuid;
ALTER TABLE hosts ALTER COLUMN user_id DROP NOT NULL;
ALTER TABLE hosts DROP CONSTRAINT hosts_user_id_fkey;
ALTER TABLE hosts ADD CONSTRAINT hosts_user_id_fkey
    FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE SET NULL;
ALTER TABLE hosts ADD CONSTRAINT hosts_owned_unless_deleted
    CHECK (user_id IS NOT NULL OR (status = 'deleted' AND former_user_id IS NOT NULL));

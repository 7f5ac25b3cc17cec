-- One-time SSH login tickets of the bootstrap flow: only a SHA-256 of the ticket is stored,
-- and a ticket is consumed by deleting its row, so it works once.
CREATE TABLE ssh_tickets (
    ticket_hash  bytea PRIMARY KEY,
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    host_id      uuid NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    expires_at   timestamptz NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ssh_tickets_expires ON ssh_tickets (expires_at);

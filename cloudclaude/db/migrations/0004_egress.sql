-- Exits' secrets (password, uuid) sealed with the server key (purpose exit-credentials) in their
-- own column; `config` keeps the non-secret kind options and a masked hint of each secret.
ALTER TABLE egress_ips ADD COLUMN credentials_enc bytea;
ALTER TABLE egress_ips ADD CONSTRAINT egress_ips_label_format
    CHECK (label ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$');
-- Bindings are addressed by id in the API; host_id stays the key (one exit per host).
ALTER TABLE host_egress_bindings ADD COLUMN id uuid NOT NULL DEFAULT gen_random_uuid();
ALTER TABLE host_egress_bindings ADD CONSTRAINT host_egress_bindings_id UNIQUE (id);

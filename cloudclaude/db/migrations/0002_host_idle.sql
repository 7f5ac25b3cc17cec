-- Per-host idle limit: NULL follows scanners.idle_stop_after_s, 0 never stops the host.
ALTER TABLE hosts ADD COLUMN idle_stop_after_s integer CHECK (idle_stop_after_s >= 0);

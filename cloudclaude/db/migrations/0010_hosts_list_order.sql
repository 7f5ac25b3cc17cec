-- The host list pages in (created_at DESC, id) order: an index in that order lets a page be
-- read straight from it instead of sorting every host (the admin list at 1,000 hosts).
CREATE INDEX hosts_created_at ON hosts (created_at DESC, id);

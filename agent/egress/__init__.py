"""Forced egress: per-host gateway namespaces, nftables and sing-box (DESIGN.md section 7)."""

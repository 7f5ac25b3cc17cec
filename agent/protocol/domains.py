"""What an allowlist entry is, for both ends of the wire: a DNS name, lowercased, no dot last.

The daemon checks an admin's list with it before storing it; the agent checks again before
writing the rule-set sing-box reads.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MAX_DOMAINS = 500
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}$")


class DomainError(ValueError):
    """An entry is not a domain name, or the list is too long."""


def normalize_domains(domains: Iterable[str]) -> list[str]:
    """Sorted unique lowercase names; ``DomainError`` names the first bad entry."""
    cleaned = sorted({str(domain).strip().lower().rstrip(".") for domain in domains})
    for domain in cleaned:
        if not _DOMAIN.match(domain):
            raise DomainError(f"{domain[:80]!r} is not a domain name")
    if len(cleaned) > MAX_DOMAINS:
        raise DomainError(f"at most {MAX_DOMAINS} domains, got {len(cleaned)}")
    return cleaned

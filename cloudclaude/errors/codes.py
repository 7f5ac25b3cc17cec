"""The one error-code registry (DESIGN.md section 9).

Every code is ``DOMAIN_NNN`` with a slug, the HTTP status the API answers with, the exit code the
bootstrap and entry scripts use (1 when no specific one applies), a message, the likely cause and
the fix. The rows live in one module per domain (``cloudclaude/errors/auth.py``, ``state.py``,
``ssh.py``, ``net.py``, ``mount.py``, ``disk.py``, ``system.py``; SESSION has no codes yet), each a
constant named after its slug in upper case, e.g. ``cloudclaude.errors.state.CONTAINER_MISSING``.
Later features add their rows there; codes and slugs are never reused.
"""

from __future__ import annotations

from types import ModuleType

from cloudclaude.errors import auth, disk, mount, net, ssh, state, system
from cloudclaude.errors.base import DOMAINS, ErrorCode

__all__ = ["DOMAINS", "DOMAIN_MODULES", "REGISTRY", "ErrorCode", "by_code", "by_slug"]

#: The domain modules, in the order their rows appear in ``REGISTRY``.
DOMAIN_MODULES: tuple[ModuleType, ...] = (auth, state, ssh, net, mount, disk, system)


def entries_of(module: ModuleType) -> tuple[ErrorCode, ...]:
    """The rows a domain module defines, in the order it defines them."""
    return tuple(value for value in vars(module).values() if isinstance(value, ErrorCode))


REGISTRY: tuple[ErrorCode, ...] = tuple(
    entry for module in DOMAIN_MODULES for entry in entries_of(module)
)


def _index() -> tuple[dict[str, ErrorCode], dict[str, ErrorCode]]:
    by_c: dict[str, ErrorCode] = {}
    by_s: dict[str, ErrorCode] = {}
    for entry in REGISTRY:
        if entry.code in by_c or entry.slug in by_s:
            raise ValueError(f"duplicate error registry entry {entry.code}/{entry.slug}")
        by_c[entry.code] = entry
        by_s[entry.slug] = entry
    return by_c, by_s


_BY_CODE, _BY_SLUG = _index()


def by_slug(slug: str) -> ErrorCode:
    """The registry row for ``slug``; a missing slug is a programming error."""
    return _BY_SLUG[slug]


def by_code(code: str) -> ErrorCode | None:
    """The registry row for ``code`` such as ``AUTH_001``, or None when unknown."""
    return _BY_CODE.get(code)

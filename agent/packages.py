"""Extra Debian packages for the box image (``image.extra_packages``): the one parser.

The daemon's settings check the setting with it, and the agent checks every request again
before the names become the ``EXTRA_PACKAGES`` build argument (an unquoted ``apt-get install``
list in ``image/Dockerfile``): a name is a Debian package name and nothing else, so no option,
version, glob or shell word gets through.
"""

from __future__ import annotations

import re

#: A Debian package name (Debian policy 5.6.7: lower case, digits, ``+ - .``; 2+ characters,
#: though one is allowed here), at most 63 characters.
NAME = re.compile(r"[a-z0-9][a-z0-9+.-]{0,62}")
MAX_PACKAGES = 50
#: The most text a setting or request may carry (50 names of 63 characters and separators).
MAX_TEXT = 4096
_SEPARATORS = re.compile(r"[\s,]+")


def parse_packages(text: str) -> tuple[str, ...]:
    """The names in ``text`` (space- or comma-separated), sorted and unique; () for none.

    Raises ``ValueError`` naming the first bad name, or the count when there are too many.
    Sorted and unique, so ``"jq vim"`` and ``"vim,jq, jq"`` make the same image.
    """
    if len(text) > MAX_TEXT:
        raise ValueError(f"is {len(text)} characters long; at most {MAX_TEXT}")
    names = [name for name in _SEPARATORS.split(text) if name]
    if len(names) > MAX_PACKAGES:
        raise ValueError(f"names {len(names)} packages; at most {MAX_PACKAGES}")
    for name in names:
        if not NAME.fullmatch(name):
            raise ValueError(
                f"{name[:80]!r} is not a Debian package name (a-z, 0-9, + . -; at most 63)"
            )
    return tuple(sorted(set(names)))


def packages_arg(text: str) -> str:
    """The canonical form of ``text``: its names sorted, unique, space-separated ("" for none)."""
    return " ".join(parse_packages(text))

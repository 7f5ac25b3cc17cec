"""Keeps the box inside the checkout: path resolution from the root, and the protected paths.

Paths from the box are read with the checkout root as ``/``; a relative path is relative to
the root too (so sshfs may be given ``:/`` or ``:`` as its remote directory). The checkout's
laptop path is *not* accepted as a prefix: one namespace, no ambiguity.

Resolution walks one component at a time from a descriptor of the root: each directory is
opened with ``O_NOFOLLOW | O_DIRECTORY`` relative to the one before (``openat``), so a
component swapped for a symlink after it was looked at fails instead of being followed. A
symlink met on the way is read and spliced into the walk: a relative target continues from
its directory, an absolute one must name the checkout (its laptop path, as given or real)
and restarts from the root; ``..`` pops the walk's own stack and may never pop the root.
Residual race: a *laptop* process that moves a directory out of the checkout while the
server holds a descriptor below it could make one operation land outside; the box cannot
do that (it acts only through this single-threaded server).

Writes (create, truncate, chmod, remove, rename to or from, mkdir, rmdir, symlink at) to
the paths in :data:`PROTECTED` are refused: they hold what runs code on the laptop later.
Names are compared case-folded, NFC-normalized and without the code points HFS+ ignores
(git's CVE-2014-9390 lesson), since macOS checkouts are case-insensitive.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import stat
import unicodedata
from collections.abc import Sequence
from typing import NamedTuple

#: (pattern, kind, why). Components are ``/``-separated; ``*`` is one component (fnmatch),
#: ``**`` any number. ``tree``: the entry and everything below it; ``entry``: the entry only.
PROTECTED: tuple[tuple[str, str, str], ...] = (
    (".git", "entry", "replacing the repository (or its gitdir file) points git elsewhere"),
    (".git/hooks", "tree", "hooks run on the laptop at commit, checkout, merge and push"),
    (".git/config", "entry", "config runs programs: fsmonitor, pager, sshCommand, aliases"),
    (".git/config.worktree", "entry", "per-worktree config: the same as .git/config"),
    (".git/info", "tree", "attributes and sparse-checkout steer what git runs and writes"),
    (".git/commondir", "entry", "points git at another repository's config and hooks"),
    (".git/remotes", "tree", "legacy remote definitions: URLs the proxied push would use"),
    (".git/branches", "tree", "legacy remote definitions: URLs the proxied fetch would use"),
    (".git/objects/info/alternates", "entry", "makes git read objects outside the checkout"),
    (".git/objects/info/http-alternates", "entry", "makes git fetch objects from a URL"),
    (".git/modules/**/config", "entry", "a submodule's config: the same as .git/config"),
    (".git/modules/**/config.worktree", "entry", "a submodule's per-worktree config"),
    (".git/modules/**/commondir", "entry", "points a submodule at another repository"),
    (".git/modules/**/hooks", "tree", "a submodule's hooks run on the laptop"),
    (".git/modules/**/info", "tree", "a submodule's attributes and sparse-checkout"),
    (".git/worktrees/*/config.worktree", "entry", "a linked worktree's config"),
    (".git/worktrees/*/commondir", "entry", "points a linked worktree at another repository"),
    ("*/**/.git", "tree", "a nested repository's config runs when git runs in its directory"),
    ("**/.gitmodules", "entry", "submodule URLs and paths that laptop git clones and checks out"),
    ("**/.envrc", "entry", "direnv runs it when you cd into its directory"),
    ("**/.env", "entry", "direnv's dotenv loads it: GIT_SSH_COMMAND, PAGER, LD_PRELOAD run"),
    (".pre-commit-config.yaml", "entry", "the pre-commit hook runs the commands it names"),
    (".husky", "tree", "husky's hooks: git on the laptop runs them (core.hooksPath)"),
    ("lefthook.yml", "entry", "lefthook's hooks run the commands it names"),
    (".lefthook.yml", "entry", "lefthook's hooks run the commands it names"),
    ("lefthook-local.yml", "entry", "lefthook's hooks run the commands it names"),
    (".overcommit.yml", "entry", "overcommit's hooks run the commands it names"),
    (".vscode/settings.json", "entry", "VS Code runs programs its settings name"),
    (".vscode/tasks.json", "entry", "VS Code can run tasks when the folder opens"),
    ("*.code-workspace", "entry", "VS Code workspace: settings and tasks, as above"),
)

#: Code points HFS+ ignores in names (git's is_hfs_dotgit list).
_IGNORED = dict.fromkeys(
    [*range(0x200C, 0x2010), *range(0x202A, 0x202F), *range(0x206A, 0x2070), 0xFEFF]
)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC | getattr(os, "O_PATH", 0)
_MAX_HOPS = 40


class Refused(Exception):
    """A request the server will not carry out: answered with SSH_FX_PERMISSION_DENIED."""


def fold(name: bytes) -> str:
    text = name.decode("utf-8", "surrogateescape").translate(_IGNORED)
    return unicodedata.normalize("NFC", text).casefold()


def _compile(pattern: str) -> tuple[str, ...]:
    return tuple(fold(part.encode()) for part in pattern.split("/"))


Rule = tuple[tuple[str, ...], str, str]
_RULES: list[Rule] = [(_compile(p), kind, why) for p, kind, why in PROTECTED]


def rule(pattern: str, kind: str, why: str) -> Rule:
    """One more protected path, for what is known only at run time (``core.hooksPath``)."""
    return _compile(pattern), kind, why


def _match(pat: tuple[str, ...], parts: tuple[str, ...], prefix: bool) -> bool:
    """Whether ``parts`` matches ``pat`` (``prefix``: or could, with more components after)."""
    if not pat:
        return not parts
    if not parts:
        return prefix
    if pat[0] == "**":
        return _match(pat[1:], parts, prefix) or _match(pat, parts[1:], prefix)
    return fnmatch.fnmatchcase(parts[0], pat[0]) and _match(pat[1:], parts[1:], prefix)


def protected(
    parts: tuple[bytes, ...], *, moving_dir: bool = False, extra: Sequence[Rule] = ()
) -> str | None:
    """Why writing the entry at ``parts`` is refused, or None. ``moving_dir``: a directory
    renamed to or from here, so it is refused too when a protected path lies below it (only
    for anchored rules: the unanchored ones refuse their names at any depth already)."""
    folded = tuple(fold(p) for p in parts)
    for pat, kind, why in (*_RULES, *extra):
        if _match(pat, folded, False):
            return why
        if kind == "tree" and any(_match(pat, folded[:n], False) for n in range(len(folded))):
            return why
        anchored = pat[0] not in ("*", "**")
        if moving_dir and anchored and _match(pat, folded, True):
            return why
    return None


def split(path: bytes) -> list[bytes]:
    return [p for p in path.split(b"/") if p not in (b"", b".")]


class Resolved(NamedTuple):
    """An entry: a descriptor of its directory (the caller closes it), its name there (``.``
    for the root), and its canonical components from the root."""

    parent: int
    name: bytes
    parts: tuple[bytes, ...]


class Root:
    """The checkout's root directory, held open; resolves paths from the box inside it."""

    def __init__(self, path: str, extra: Sequence[Rule] = ()) -> None:
        self.extra = list(extra)
        self.fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self.prefixes = {os.fsencode(os.path.abspath(path)), os.fsencode(os.path.realpath(path))}

    def close(self) -> None:
        os.close(self.fd)

    def _inside(self, target: bytes) -> list[bytes]:
        """An absolute symlink target's components below the root; refused when outside."""
        for prefix in self.prefixes:
            if target == prefix or target.startswith(prefix.rstrip(b"/") + b"/"):
                return split(target[len(prefix) :])
        raise Refused("a symlink points outside the checkout")

    def resolve(self, path: bytes, *, follow: bool) -> Resolved:
        """Resolve ``path``; ``follow``: a symlink as the last component is followed too.
        A missing last component is fine (for create); a missing directory is ENOENT."""
        todo = split(path)
        fds = [os.dup(self.fd)]
        names: list[bytes] = []
        hops = 0
        try:
            while todo:
                comp = todo.pop(0)
                if comp == b"..":
                    if not names:
                        raise Refused("the path leaves the checkout")
                    os.close(fds.pop())
                    names.pop()
                    continue
                last = not todo
                try:
                    st = os.stat(comp, dir_fd=fds[-1], follow_symlinks=False)
                except FileNotFoundError:
                    if last:
                        return Resolved(os.dup(fds[-1]), comp, (*names, comp))
                    raise
                if stat.S_ISLNK(st.st_mode) and (follow or not last):
                    hops += 1
                    if hops > _MAX_HOPS:
                        raise OSError(errno.ELOOP, "too many symlinks")
                    target = os.readlink(comp, dir_fd=fds[-1])
                    if target.startswith(b"/"):
                        todo = self._inside(target) + todo
                        while len(fds) > 1:
                            os.close(fds.pop())
                        names.clear()
                    else:
                        todo = split(target) + todo
                    continue
                if last:
                    return Resolved(os.dup(fds[-1]), comp, (*names, comp))
                fds.append(os.open(comp, _DIR_FLAGS, dir_fd=fds[-1]))
                names.append(comp)
            if not names:
                return Resolved(os.dup(self.fd), b".", ())
            return Resolved(os.dup(fds[-2]), names[-1], tuple(names))
        finally:
            for fd in fds:
                os.close(fd)

    def symlink_target_ok(self, link_parts: tuple[bytes, ...], target: bytes) -> None:
        """Refuse a symlink the box asks for whose text escapes the checkout, or names a
        protected path (a laptop program writing through it would write that path)."""
        if not target or target.startswith(b"/") or b"\0" in target:
            raise Refused("symlink targets must be relative and stay in the checkout")
        stack = list(link_parts[:-1])
        for comp in split(target):
            if comp == b"..":
                if not stack:
                    raise Refused("the symlink's target leaves the checkout")
                stack.pop()
            else:
                stack.append(comp)
        parts = [tuple(stack)]
        try:
            found = self.resolve(b"/".join(stack), follow=True)
        except (OSError, Refused):
            pass
        else:
            os.close(found.parent)
            parts.append(found.parts)
        for candidate in parts:
            why = protected(candidate, moving_dir=True, extra=self.extra)
            if why is not None or not candidate:
                raise Refused(f"the symlink would point at a protected path ({why or 'root'})")

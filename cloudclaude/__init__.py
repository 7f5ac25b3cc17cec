"""cloudclaude: one isolated Linux box with Claude Code per team member, with forced egress."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("cloudclaude")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+src"

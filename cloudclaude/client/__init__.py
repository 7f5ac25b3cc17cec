"""``cloud-claude``: the laptop CLI (issue 17, first part).

Runs on the user's laptop (Linux or macOS, Python >= 3.9, the OpenSSH client): the standard
library only, and nothing of the daemon but the error registry's data (``registry.json``, a
copy kept equal to the registry by a test). It signs in with the user's password once, pins
the server's TLS key and SSH host key on first use, keeps a revocable token in a file only the
user can read, and drives the user's boxes through the JSON API.
"""

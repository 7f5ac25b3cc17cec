"""schemathesis hooks for ``test_api_contract``: the run never acts on the accounts it uses.

schemathesis reuses ids it read in answers (``GET /v1/me`` names the caller), so it would
disable, demote or re-password the very admin whose token it sends and spend the rest of the
run on 401s. Loaded by ``st run`` through ``SCHEMATHESIS_HOOKS``; the ids come in
``CONTRACT_PROTECTED_IDS``. A protected id in a path becomes a fresh one (a 404, declared).
"""

from __future__ import annotations

import os
import uuid
from typing import Any

import schemathesis

PROTECTED = frozenset(filter(None, os.environ.get("CONTRACT_PROTECTED_IDS", "").split(",")))


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    params = case.path_parameters
    if params and str(params.get("user_id")) in PROTECTED:
        params["user_id"] = str(uuid.uuid4())

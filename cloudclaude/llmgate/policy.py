"""Whose key a box's request goes out with, or why it does not go out: asked per request.

A user's key, budget and choice are looked up at once (three queries in parallel) and kept
for ``FACTS_TTL_S``: a rotated key, a new assignment or budget counts within that second,
without restarting the box; the tokens of each recorded request are added to the kept budget
at once, so a spent budget stops the very next request. (Looking up on every request costs
6-10 ms of database round trips on a loaded 2-core machine: over the 5 ms budget of the whole
endpoint.) A host's owner is kept for ``OWNER_TTL_S``: it never changes while the host runs.
"""

from __future__ import annotations

import uuid

import attrs
import trio

from cloudclaude.domain.credentials import Credentials
from cloudclaude.domain.llm_usage import LlmUsage
from cloudclaude.errors import auth, state
from cloudclaude.llmgate.forwarder import Decision, budget_refusal, refusal
from cloudclaude.model.credentials import BudgetState, ResolvedKey, UsageRow

OWNER_TTL_S = 60.0
FACTS_TTL_S = 1.0
MAX_CACHED = 10_000


@attrs.define
class _Facts:
    expires: float
    enabled: bool
    key: ResolvedKey | None
    budget: BudgetState


class DomainPolicy:
    def __init__(self, credentials: Credentials, usage: LlmUsage, page_url: str) -> None:
        self.credentials = credentials
        self.usage = usage
        #: Where a user adds a key or asks for one (their page), for the refusals' text.
        self.page_url = page_url
        self._owners: dict[uuid.UUID, tuple[uuid.UUID, float]] = {}
        self._facts: dict[uuid.UUID, _Facts] = {}

    async def decide(
        self, host_id: uuid.UUID, own_credential: bool
    ) -> tuple[uuid.UUID | None, Decision]:
        user_id = await self._owner(host_id)
        if user_id is None:
            return None, Decision(refusal=refusal(state.HOST_NOT_FOUND))
        if own_credential:
            return user_id, Decision(passthrough=True)
        facts = await self._facts_of(user_id)
        enabled, key, budget = facts.enabled, facts.key, facts.budget
        if not enabled:
            return user_id, Decision(refusal=refusal(auth.LLM_GATEWAY_OFF, page=self.page_url))
        if key is None:
            return user_id, Decision(refusal=refusal(auth.LLM_KEY_MISSING, page=self.page_url))
        if budget.exhausted:
            return user_id, Decision(refusal=budget_refusal(budget))
        return user_id, Decision(key=key)

    async def record(self, row: UsageRow) -> None:
        await self.usage.record(row)
        facts = self._facts.get(row.user_id)
        if facts is not None:
            tokens = (
                row.input_tokens
                + row.output_tokens
                + row.cache_creation_tokens
                + row.cache_read_tokens
            )
            used = facts.budget.used_tokens + tokens
            facts.budget = attrs.evolve(facts.budget, used_tokens=used)

    async def _owner(self, host_id: uuid.UUID) -> uuid.UUID | None:
        now = trio.current_time()
        known = self._owners.get(host_id)
        if known is not None and known[1] > now:
            return known[0]
        user_id = await self.credentials.owner_of_host(host_id)
        if user_id is not None:
            if len(self._owners) >= MAX_CACHED:
                self._owners.clear()
            self._owners[host_id] = (user_id, now + OWNER_TTL_S)
        return user_id

    async def _facts_of(self, user_id: uuid.UUID) -> _Facts:
        now = trio.current_time()
        facts = self._facts.get(user_id)
        if facts is None or facts.expires <= now:
            enabled, key, budget = await self._look_up(user_id)
            if len(self._facts) >= MAX_CACHED:
                self._facts.clear()
            facts = self._facts[user_id] = _Facts(now + FACTS_TTL_S, enabled, key, budget)
        return facts

    async def _look_up(self, user_id: uuid.UUID) -> tuple[bool, ResolvedKey | None, BudgetState]:
        """The user's choice, key and budget, looked up at once (one round trip of latency)."""
        enabled: list[bool] = []
        keys: list[ResolvedKey | None] = []
        budgets: list[BudgetState] = []

        async def choice() -> None:
            enabled.append(await self.usage.gateway_enabled(user_id))

        async def key() -> None:
            keys.append(await self.credentials.key_for(user_id))

        async def budget() -> None:
            budgets.append(await self.usage.budget(user_id))

        async with trio.open_nursery() as nursery:
            for lookup in (choice, key, budget):
                nursery.start_soon(lookup)
        return enabled[0], keys[0], budgets[0]

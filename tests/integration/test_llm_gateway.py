"""Claude Code's key never enters the box: requests from a real box reach a fake Messages API in
the simulated internet through the box's gateway endpoint, with the user's real key put in on
the way and out by the box's exit; usage is recorded from the answers; budgets cut off.

Real parts: the daemon's task workers and credentials endpoint, the embedded agent (gateway
netns, nftables, sing-box), a real box reached with real ``ssh`` through the proxy, and the
image's real ``claude``.
"""

from __future__ import annotations

import json
import shlex
import uuid
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest
import trio

from cloudclaude.app.supervisor import llm_gateway
from cloudclaude.llmgate.policy import FACTS_TTL_S
from cloudclaude.model.audit import Actor
from cloudclaude.model.credentials import Credential, UsageFilter
from tests.integration.fakeapi import FakeApi, running_fake_api
from tests.integration.netsim import SimInternet
from tests.integration.sshstack import BoxUser, SshStack

TEAM_KEY = "sk-ant-api03-team-" + "a" * 40
ROTATED_KEY = "sk-ant-api03-rotated-" + "b" * 40
ADMIN = Actor(name="test")
MESSAGES = json.dumps(
    {
        "model": "claude-test",
        "max_tokens": 20,
        "stream": True,
        "messages": [{"role": "user", "content": "hi"}],
    }
)


@pytest.fixture
def fake_api(sim_internet: SimInternet, tmp_path: Path) -> Iterator[FakeApi]:
    with running_fake_api(sim_internet, tmp_path, [TEAM_KEY, ROTATED_KEY]) as api:
        yield api


@pytest.fixture
async def stack(ssh_stack: SshStack, fake_api: FakeApi) -> SshStack:
    """The stack with its credentials endpoint's upstream set to the fake API."""
    live = ssh_stack.stack.live
    credentials = attrs.evolve(
        live.current.credentials,
        anthropic_upstream=fake_api.url,
        upstream_ca_file=str(fake_api.ca_file),
    )
    live.current = attrs.evolve(live.current, credentials=credentials)
    return ssh_stack


@pytest.fixture
async def team(stack: SshStack) -> Credential:
    """The team's default key."""
    return await stack.stack.services.credentials.create(ADMIN, "team", TEAM_KEY, default=True)


def _curl(auth: str = '"authorization: Bearer $ANTHROPIC_AUTH_TOKEN"') -> str:
    """Claude Code's request as curl sends it from a login shell in the box."""
    return "bash -lc " + shlex.quote(
        'curl -sS -N --max-time 30 "$ANTHROPIC_BASE_URL/v1/messages"'
        f" -H {auth} -H 'anthropic-version: 2023-06-01'"
        f" -H 'content-type: application/json' -d {shlex.quote(MESSAGES)}"
    )


async def _in_box(stack: SshStack, user: BoxUser, command: str) -> str:
    done = await stack.client.run(stack.ssh(user, command))
    assert done.returncode == 0, done.stderr
    return done.stdout.decode()


async def test_a_box_request_goes_out_with_the_team_key_by_the_exit_and_is_counted(
    ssh_stack: SshStack, team: Credential, fake_api: FakeApi, sim_internet: SimInternet
) -> None:
    services = ssh_stack.stack.services
    user = await ssh_stack.user_with_host()

    answer = await _in_box(ssh_stack, user, _curl())
    assert "event: message_stop" in answer and "Hello" in answer, answer
    [seen] = fake_api.requests()
    assert seen["x_api_key"] == TEAM_KEY and seen["authorization"] == ""
    assert seen["peer"] == sim_internet.direct_exit()["expected_ip"]  # out by the box's exit

    report = await services.llm_usage.report(UsageFilter(user_id=uuid.UUID(user.user_id)), "user")
    [group] = report.groups
    assert group.requests == 1
    assert group.input_tokens == seen["usage"]["input_tokens"]
    assert group.output_tokens == seen["usage"]["output_tokens"]
    assert group.cache_read_tokens == seen["usage"]["cache_read_input_tokens"]
    assert group.cache_creation_tokens == seen["usage"]["cache_creation_input_tokens"]

    # Errors pass through with their status and body.
    failing = _curl().replace("claude-test", "fake-error-529")
    answer = await _in_box(ssh_stack, user, failing.replace("curl -sS", "curl -sS -i"))
    assert answer.startswith("HTTP/1.1 529"), answer
    assert '"the fake was told to fail"' in answer
    # Counted per model and outcome for Prometheus.
    registry = services.metrics.registry
    ok = registry.get_sample_value(
        "cloudclaude_llm_requests_total", {"model": "claude-test", "outcome": "ok"}
    )
    failed = registry.get_sample_value(
        "cloudclaude_llm_requests_total", {"model": "none", "outcome": "status_5xx"}
    )
    tokens = registry.get_sample_value(
        "cloudclaude_llm_tokens_total", {"model": "claude-test", "kind": "input"}
    )
    assert (ok, failed, tokens) == (1.0, 1.0, float(seen["usage"]["input_tokens"]))

    # The key is nowhere in the box: not in a file, not in any process's environment.
    search = (
        f"sudo grep -rlsF --binary-files=text {shlex.quote(TEAM_KEY)} / "
        "--exclude-dir=proc --exclude-dir=sys --exclude-dir=dev; "
        f"sudo sh -c 'cat /proc/[0-9]*/environ' | grep -caF {shlex.quote(TEAM_KEY)}; true"
    )
    assert (await _in_box(ssh_stack, user, search)).split() == ["0"]


async def test_a_rotation_and_a_budget_take_effect_without_restarting_the_box(
    ssh_stack: SshStack, team: Credential, fake_api: FakeApi
) -> None:
    services = ssh_stack.stack.services
    user = await ssh_stack.user_with_host()
    await _in_box(ssh_stack, user, _curl())
    await services.credentials.rotate(ADMIN, team.id, ROTATED_KEY)
    await trio.sleep(FACTS_TTL_S)  # the endpoint keeps what it looked up for this long
    await _in_box(ssh_stack, user, _curl())
    assert [r["x_api_key"] for r in fake_api.requests()] == [TEAM_KEY, ROTATED_KEY]

    used = (await services.llm_usage.budget(uuid.UUID(user.user_id))).used_tokens
    await services.llm_usage.set_budget(ADMIN, uuid.UUID(user.user_id), used)
    await trio.sleep(FACTS_TTL_S)
    refused = await _in_box(ssh_stack, user, _curl())
    error = json.loads(refused)
    assert error["type"] == "error" and error["error"]["type"] == "permission_error"
    assert error["error"]["message"].startswith("AUTH_021 ")
    assert len(fake_api.requests()) == 2  # the refused one never left


async def test_without_a_key_the_box_is_told_and_its_own_login_passes_untouched(
    stack: SshStack, fake_api: FakeApi
) -> None:
    ssh_stack = stack
    user = await ssh_stack.user_with_host()
    refused = json.loads(await _in_box(ssh_stack, user, _curl()))
    assert refused["error"]["type"] == "permission_error"
    message = refused["error"]["message"]
    assert message.startswith("AUTH_020 No API key is assigned to you.")
    assert "add your own on your page (https://" in message and "/me)" in message
    assert fake_api.requests() == []

    own = "'authorization: Bearer sk-ant-oat01-users-own-login'"
    answer = await _in_box(ssh_stack, user, _curl(own))
    assert "event: message_stop" in answer
    [seen] = fake_api.requests()
    assert seen["authorization"] == "Bearer sk-ant-oat01-users-own-login"
    assert seen["x_api_key"] == ""


async def test_another_boxs_endpoint_and_the_upstream_proxy_are_out_of_reach(
    ssh_stack: SshStack, team: Credential, fake_api: FakeApi
) -> None:
    first = await ssh_stack.user_with_host()
    second = await ssh_stack.user_with_host()
    gateways = {
        g.host_id: g for g in (await ssh_stack.stack.services.agent.list_gateways()).gateways
    }
    other = gateways[str(second.host_id)]
    own = gateways[str(first.host_id)]
    probes = [f"{other.gateway_address}:4180", f"{own.gateway_address}:4181"]
    upstream_proxy = str(other.gateway_address).rsplit(".", 1)
    probes.append(f"{upstream_proxy[0]}.{int(upstream_proxy[1]) + 5}:4181")  # its uplink end
    script = "; ".join(
        f"curl -s -o /dev/null --max-time 3 http://{target}/v1/messages && echo reached {target}"
        for target in probes
    )
    assert "reached" not in await _in_box(ssh_stack, first, script + "; true")
    # Its own endpoint still answers.
    assert "message_stop" in await _in_box(ssh_stack, first, _curl())


async def test_the_real_claude_in_the_box_gets_the_fake_apis_answer(
    ssh_stack: SshStack, team: Credential, fake_api: FakeApi
) -> None:
    user = await ssh_stack.user_with_host()
    command = "bash -lc " + shlex.quote(
        "cd ~ && CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 DISABLE_AUTOUPDATER=1"
        " timeout 120 claude -p 'say hello' --model claude-test </dev/null"
    )
    answer = await _in_box(ssh_stack, user, command)
    assert "Hello from the fake API." in answer
    assert any(r["x_api_key"] == TEAM_KEY for r in fake_api.requests())
    onboarding = json.loads(await _in_box(ssh_stack, user, "cat ~/.claude.json"))
    assert onboarding["hasCompletedOnboarding"] is True


async def test_a_user_on_their_own_subscription_gets_no_gateway_environment(
    ssh_stack: SshStack,
) -> None:
    user = await ssh_stack.user_with_host()
    services = ssh_stack.stack.services
    assert "cloudclaude-llm.sh" in await _in_box(ssh_stack, user, "ls /etc/profile.d")
    await services.llm_usage.set_gateway(ADMIN, uuid.UUID(user.user_id), False)
    # The box's environment is made with its container: a rebuild applies the choice.
    _, rebuilt = await ssh_stack.stack.call("POST", f"/v1/admin/hosts/{user.host['id']}/rebuild")
    assert (await ssh_stack.stack.wait_task(rebuilt["task_id"]))["status"] == "succeeded"
    shown = await _in_box(
        ssh_stack, user, "bash -lc 'echo base=${ANTHROPIC_BASE_URL:-none}'; ls /etc/profile.d"
    )
    assert "base=none" in shown and "cloudclaude-llm.sh" not in shown


async def test_a_spent_budget_stops_the_very_next_request(
    ssh_stack: SshStack, team: Credential, fake_api: FakeApi
) -> None:
    services = ssh_stack.stack.services
    user = await ssh_stack.user_with_host()
    await services.llm_usage.set_budget(ADMIN, uuid.UUID(user.user_id), 10)  # < one request
    await _in_box(ssh_stack, user, _curl())  # allowed: nothing used yet; it spends the budget
    refused = json.loads(await _in_box(ssh_stack, user, _curl()))  # within the same second
    assert refused["error"]["message"].startswith("AUTH_021 ")
    assert len(fake_api.requests()) == 1


async def test_a_restarted_daemon_serves_the_running_boxes_again(
    ssh_stack: SshStack, team: Credential, fake_api: FakeApi
) -> None:
    """The listening socket goes with the daemon; a new daemon asks the agent for it again."""
    services = ssh_stack.stack.services
    user = await ssh_stack.user_with_host()
    stopping = trio.Event()
    again = llm_gateway(services, stopping)
    async with trio.open_nursery() as nursery:
        await nursery.start(again.run)  # its first sync attaches every running host
        assert user.host_id in again.hosts_served
        assert "message_stop" in await _in_box(ssh_stack, user, _curl())
        stopping.set()
    assert len(fake_api.requests()) == 1


async def test_a_gateway_rebuilt_under_a_running_box_gets_the_endpoint_again(
    ssh_stack: SshStack, team: Credential, fake_api: FakeApi
) -> None:
    """A start of a running host rebuilds its gateway while the daemon still holds a socket in
    the old one: the box gets its new link (not a clash with the old, still-held one) and the
    endpoint moves into the new gateway."""
    user = await ssh_stack.user_with_host()
    assert "message_stop" in await _in_box(ssh_stack, user, _curl())
    status, again = await ssh_stack.stack.call("POST", f"/v1/admin/hosts/{user.host['id']}/start")
    assert status == 202, again
    task = await ssh_stack.stack.wait_task(again["task_id"])
    assert task["status"] == "succeeded", task
    assert "message_stop" in await _in_box(ssh_stack, user, _curl())
    assert len(fake_api.requests()) == 2

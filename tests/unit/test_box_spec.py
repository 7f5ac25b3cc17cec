"""The Docker create body made from a host's settings, and the checks before it.

The caller chooses limits and identity only: the image, the mounts and the resolver are the
agent's (its build, its config, its gateway).
"""

from __future__ import annotations

from typing import Any

import pytest

from agent import errors
from agent.config import BOX_HOME, AgentConfig, ExtraMount, parse_extra_mounts
from agent.ops.containers import CAPABILITIES, create_body, is_ours, validate_spec
from agent.protocol import messages as m
from cloudclaude.agent_client.handle import agent_config
from cloudclaude.core.settings import AgentSettings, Settings, SettingsError

HOST = "5f0c1c2e-aaaa-bbbb-cccc-0123456789ab"


def body(**spec: Any) -> dict[str, Any]:
    return create_body(HOST, m.BoxSpec(**spec), "cloudclaude-box:abc", "/srv/homes/x")


def test_limits_come_from_the_spec() -> None:
    host = body(cpus=1.5, memory_mb=2048, pids=256)["HostConfig"]
    assert host["NanoCpus"] == 1_500_000_000
    assert host["Memory"] == host["MemorySwap"] == 2048 * 1024 * 1024
    assert host["PidsLimit"] == 256


def test_no_network_no_privilege_and_only_the_sshd_capabilities() -> None:
    host = body()["HostConfig"]
    assert host["NetworkMode"] == "none"
    assert host["Privileged"] is False
    assert host["CapDrop"] == ["ALL"]
    assert set(host["CapAdd"]) == set(CAPABILITIES)
    dangerous = {"NET_ADMIN", "NET_RAW", "SYS_ADMIN", "SYS_PTRACE", "SYS_MODULE"}
    assert not dangerous & set(host["CapAdd"])
    assert "no-new-privileges" not in str(host.get("SecurityOpt"))
    assert "PortBindings" not in host
    assert host["Sysctls"]["net.ipv6.conf.all.disable_ipv6"] == "1"
    assert "/tmp" in host["Tmpfs"]


def test_labels_find_the_host_and_mark_it_managed() -> None:
    labels = body(disk_gb=7)["Labels"]
    assert labels == {
        "cloudclaude.managed": "1",
        "cloudclaude.host_id": HOST,
        "cloudclaude.instance": "default",
        "cloudclaude.disk_gb": "7",
    }


def test_only_the_home_volume_and_configured_mounts_are_mounted() -> None:
    plain = body()["HostConfig"]["Mounts"]
    assert [(x["Source"], x["Target"]) for x in plain] == [("/srv/homes/x", BOX_HOME)]
    extra = parse_extra_mounts("/srv/shared:/shared,/srv/scratch:/scratch:rw")
    made = create_body(HOST, m.BoxSpec(), "img", "/srv/homes/x", extra_mounts=extra)
    mounts = made["HostConfig"]["Mounts"]
    assert [(x["Source"], x["Target"], x.get("ReadOnly")) for x in mounts[1:]] == [
        ("/srv/shared", "/shared", True),
        ("/srv/scratch", "/scratch", False),
    ]


def test_the_image_and_resolver_are_the_agents() -> None:
    made = create_body(HOST, m.BoxSpec(), "cloudclaude-box:abc", "/h", dns="100.96.0.1")
    assert made["Image"] == "cloudclaude-box:abc"
    assert made["HostConfig"]["Dns"] == ["100.96.0.1"]


@pytest.mark.parametrize("field", ["image", "mounts", "dns"])
def test_a_spec_cannot_name_an_image_mounts_or_a_resolver(field: str) -> None:
    smuggled: dict[str, Any] = {field: "x"}
    with pytest.raises(TypeError):
        m.BoxSpec(**smuggled)


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("/srv/a", "SOURCE:TARGET"),
        ("/srv/a:/a:rwx", "SOURCE:TARGET"),
        ("srv:/a", "absolute"),
        ("/srv/../etc:/a", "normalised"),
        ("//etc:/a", "normalised"),
        ("/srv/a/:/a", "normalised"),
        ("/:/host", "hand boxes the host"),
        ("/etc:/a", "hand boxes the host"),
        ("/var/run/docker.sock:/d", "hand boxes the host"),
        ("/srv/a:/", "not allowed"),
        ("/srv/a:/etc", "not allowed"),
        ("/srv/a:" + BOX_HOME, "not allowed"),
        ("/srv/a:" + BOX_HOME + "/x", "not allowed"),
        ("/srv/a:/a,/srv/b:/a", "share a target"),
    ],
)
def test_bad_extra_mounts_are_refused(text: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        parse_extra_mounts(text)


def test_extra_mounts_are_read_only_unless_rw_and_print_as_flags() -> None:
    mounts = parse_extra_mounts("/srv/a:/a, /srv/b:/b:rw")
    assert [str(mount) for mount in mounts] == ["/srv/a:/a:ro", "/srv/b:/b:rw"]
    assert AgentConfig(extra_mounts=mounts).extra_mounts == mounts
    with pytest.raises(ValueError, match="normalised"):
        ExtraMount("/srv/a", "/x/../etc")


def test_only_a_container_labelled_by_this_instance_is_ours() -> None:
    labels = body()["Labels"]
    info = {"Name": f"/cloudclaude-{HOST}", "Config": {"Labels": labels}}
    assert is_ours(info, HOST, "default")
    assert not is_ours(info, HOST, "another")
    assert not is_ours(info, "5f0c1c2e-other", "default")
    assert not is_ours({**info, "Name": "/elsewhere"}, HOST, "default")
    assert not is_ours({"Name": f"/cloudclaude-{HOST}", "Config": {"Labels": {}}}, HOST, "default")


def test_key_and_timezone_reach_the_box_init() -> None:
    env = body(authorized_key="ssh-ed25519 AAAA k", timezone="Europe/Berlin")["Env"]
    assert "CLOUDCLAUDE_AUTHORIZED_KEY=ssh-ed25519 AAAA k" in env
    assert "CLOUDCLAUDE_TIMEZONE=Europe/Berlin" in env


@pytest.mark.parametrize(
    ("spec", "complaint"),
    [
        ({"cpus": 0}, "cpus"),
        ({"memory_mb": 16}, "memory_mb"),
        ({"pids": 2}, "pids"),
        ({"disk_gb": 0}, "disk_gb"),
        ({"hostname": "Bad_Name"}, "hostname"),
        ({"timezone": "../../etc/passwd"}, "timezone"),
        ({"authorized_key": "a\nb"}, "authorized_key"),
        ({"authorized_key": "a\0b"}, "authorized_key"),
        ({"authorized_key": "k" * 20000}, "authorized_key"),
        ({"cpus": float("nan")}, "cpus"),
        ({"memory_mb": 10**30}, "memory_mb"),
        ({"timezone": "A" * 300}, "timezone"),
    ],
)
def test_bad_specs_are_refused(spec: dict[str, Any], complaint: str) -> None:
    with pytest.raises(errors.AgentError) as refused:
        validate_spec(m.BoxSpec(**spec))
    assert refused.value.code == errors.VALIDATION_FAILED
    assert complaint in refused.value.message


def test_the_default_spec_is_valid() -> None:
    validate_spec(m.BoxSpec())


def test_the_embedded_agent_takes_extra_mounts_from_the_agent_settings() -> None:
    settings = Settings(agent=AgentSettings(extra_mounts="/srv/shared:/shared"))
    assert agent_config(settings).extra_mounts == (ExtraMount("/srv/shared", "/shared"),)
    with pytest.raises(SettingsError, match="extra_mounts"):
        AgentSettings(extra_mounts="/:/host")


@pytest.mark.parametrize(("spec", "name"), [({}, f"box-{HOST[:8]}"), ({"hostname": "dev"}, "dev")])
def test_the_box_resolves_its_own_hostname(spec: dict[str, Any], name: str) -> None:
    made = body(**spec)
    assert made["Hostname"] == name
    assert made["HostConfig"]["ExtraHosts"] == [f"{name}:127.0.1.1"]

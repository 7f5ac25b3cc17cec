"""The Docker create body made from a host's settings, and the checks before it."""

from __future__ import annotations

from typing import Any

import pytest

from agent import errors
from agent.ops.containers import BOX_HOME, CAPABILITIES, create_body, validate_spec
from agent.protocol import messages as m

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
    extra = m.HostMount(source="/srv/shared", target="/shared")
    mounts = body(mounts=[extra])["HostConfig"]["Mounts"]
    assert mounts[1]["Source"] == "/srv/shared" and mounts[1]["ReadOnly"] is True


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
        ({"mounts": [m.HostMount(source="rel", target="/x")]}, "absolute"),
        ({"mounts": [m.HostMount(source="/x", target=BOX_HOME)]}, "not allowed"),
    ],
)
def test_bad_specs_are_refused(spec: dict[str, Any], complaint: str) -> None:
    with pytest.raises(errors.AgentError) as refused:
        validate_spec(m.BoxSpec(**spec))
    assert refused.value.code == errors.VALIDATION_FAILED
    assert complaint in refused.value.message


def test_the_default_spec_is_valid() -> None:
    validate_spec(m.BoxSpec())

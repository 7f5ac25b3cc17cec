"""Pure parts of the agent's operations: Docker stream framing, image inputs, host ids."""

from __future__ import annotations

import io
import struct
import tarfile
from pathlib import Path

import pytest

from agent import errors
from agent.config import AgentConfig
from agent.ops.docker import Docker, demultiplex
from agent.ops.images import (
    CA_NAME,
    Images,
    build_args,
    check_version,
    content_tag,
    context_files,
    context_tar,
)
from agent.ops.names import check_host_id, container_name


def frame(stream: int, data: bytes) -> bytes:
    return struct.pack(">BxxxI", stream, len(data)) + data


def test_demultiplex_splits_stdout_and_stderr() -> None:
    data = frame(1, b"out1 ") + frame(2, b"err") + frame(1, b"out2")
    assert demultiplex(data) == (b"out1 out2", b"err")


def test_demultiplex_ignores_a_truncated_header() -> None:
    assert demultiplex(frame(1, b"ok") + b"\x01\x00") == (b"ok", b"")


def _image_dir(tmp_path: Path) -> AgentConfig:
    (tmp_path / "Dockerfile").write_text("FROM x\n")
    (tmp_path / "box-init").write_text("#!/bin/sh\n")
    (tmp_path / ".hidden").write_text("ignored")
    ca = tmp_path.parent / "ca.crt"
    ca.write_text("CA")
    return AgentConfig(image_dir=tmp_path, build_ca_bundle=ca)


def test_the_tag_changes_with_any_input_and_only_then(tmp_path: Path) -> None:
    config = _image_dir(tmp_path)
    files = context_files(config)
    assert set(files) == {"Dockerfile", "box-init", CA_NAME}
    tag = content_tag(files, "base:1", "sha256:a")
    assert content_tag(context_files(config), "base:1", "sha256:a") == tag
    assert content_tag(files, "base:1", "sha256:b") != tag
    (tmp_path / "box-init").write_text("#!/bin/sh\necho changed\n")
    assert content_tag(context_files(config), "base:1", "sha256:a") != tag


PINNED = {"Dockerfile": b"FROM x\nARG CLAUDE_CODE_VERSION=2.1.331\nRUN true\n"}


def test_another_claude_code_version_is_another_image_and_the_pin_the_same() -> None:
    tag = content_tag(PINNED, "base:1", "sha256:a")
    assert build_args(PINNED, "") == build_args(PINNED, "2.1.331") == {}
    newer = build_args(PINNED, "2.1.332")
    assert newer == {"CLAUDE_CODE_VERSION": "2.1.332"}
    assert content_tag(PINNED, "base:1", "sha256:a", {}) == tag
    assert content_tag(PINNED, "base:1", "sha256:a", newer) != tag
    assert content_tag(PINNED, "base:1", "sha256:a", newer) == content_tag(
        PINNED, "base:1", "sha256:a", build_args(PINNED, "2.1.332")
    )


@pytest.mark.parametrize(
    "bad",
    ["latest", "^2.1.0", "2.1", "2.1.331 && curl x", "2.1.331;x", "2.1.331\n", "1.2.3-" + "a" * 60],
)
def test_a_claude_code_version_must_be_a_plain_version(bad: str) -> None:
    with pytest.raises(errors.AgentError) as refused:
        check_version(bad)
    assert refused.value.code == errors.VALIDATION_FAILED
    with pytest.raises(errors.AgentError):
        build_args(PINNED, bad)


async def test_a_bad_version_is_refused_before_docker_is_asked(tmp_path: Path) -> None:
    docker = Docker(str(tmp_path / "no-dockerd.sock"))
    try:
        with pytest.raises(errors.AgentError) as refused:
            await Images(docker, AgentConfig()).ensure(_quiet, claude_code_version="latest")
    finally:
        await docker.aclose()
    assert refused.value.code == errors.VALIDATION_FAILED


async def _quiet(_stage: str, _percent: int, _message: str) -> None:
    return None


@pytest.mark.parametrize("good", ["2.1.332", "2.2.0-beta.1", "10.0.0+build.5", "1.2.3.4"])
def test_plain_versions_are_accepted(good: str) -> None:
    check_version(good)


def test_a_version_the_dockerfile_cannot_take_is_refused() -> None:
    with pytest.raises(errors.AgentError) as refused:
        build_args({"Dockerfile": b"FROM x\n"}, "2.1.332")
    assert refused.value.code == errors.VALIDATION_FAILED
    assert build_args({"Dockerfile": b"FROM x\n"}, "") == {}
    declared = {"Dockerfile": b"FROM x\nARG CLAUDE_CODE_VERSION\n"}
    assert build_args(declared, "2.1.332") == {"CLAUDE_CODE_VERSION": "2.1.332"}


def test_the_context_tar_keeps_scripts_executable(tmp_path: Path) -> None:
    files = context_files(_image_dir(tmp_path))
    with tarfile.open(fileobj=io.BytesIO(context_tar(files))) as tar:
        modes = {member.name: member.mode for member in tar.getmembers()}
    assert modes["box-init"] == 0o755 and modes["Dockerfile"] == 0o644


def test_a_missing_dockerfile_is_a_build_error(tmp_path: Path) -> None:
    with pytest.raises(errors.AgentError) as missing:
        context_files(AgentConfig(image_dir=tmp_path))
    assert missing.value.code == errors.IMAGE_BUILD_FAILED


@pytest.mark.parametrize("bad", ["", "../x", "UPPER", "a/b", "a" * 64, "-x", "a b"])
def test_host_ids_that_could_escape_names_or_paths_are_refused(bad: str) -> None:
    with pytest.raises(errors.AgentError) as refused:
        container_name(bad)
    assert refused.value.code == errors.VALIDATION_FAILED


def test_uuid_host_ids_are_accepted() -> None:
    assert check_host_id("5f0c1c2e-aaaa-bbbb-cccc-0123456789ab")

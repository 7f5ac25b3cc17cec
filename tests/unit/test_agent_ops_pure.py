"""Pure parts of the agent's operations: Docker stream framing, image inputs, host ids."""

from __future__ import annotations

import io
import struct
import tarfile
from pathlib import Path

import pytest

from agent import errors
from agent.config import AgentConfig
from agent.ops.docker import demultiplex
from agent.ops.images import CA_NAME, content_tag, context_files, context_tar
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

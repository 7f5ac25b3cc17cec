"""``image.extra_packages``: the names checked on both sides, and the image's content tag."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent import errors
from agent.config import AgentConfig
from agent.ops.docker import Docker
from agent.ops.images import Images, build_args, check_packages, content_tag, context_files
from agent.packages import MAX_PACKAGES, packages_arg, parse_packages
from agent.protocol import messages as m
from agent.protocol.codec import decode, encode
from cloudclaude.agent_client.handle import open_agent
from cloudclaude.core import settings
from cloudclaude.core.settings import AgentSettings, ImageSettings, Settings, SettingsError

DECLARED = {"Dockerfile": b"FROM x\nARG CLAUDE_CODE_VERSION=2.1.331\nARG EXTRA_PACKAGES=\n"}
BAD_NAMES = [
    "-y",  # an option to apt-get
    "--allow-unauthenticated",
    "jq=1.6-2",  # a version
    "jq:amd64",  # an architecture
    "jq;rm",
    "$(id)",
    "`id`",
    "j*",  # a glob
    "../x",
    "Jq",  # upper case
    "a" * 64,
    "jq/bookworm-backports",
    "é",
]


def test_names_are_split_on_spaces_and_commas_sorted_and_unique() -> None:
    assert parse_packages("") == parse_packages(" , \n") == ()
    assert parse_packages("vim jq,  jq\tg++ libstdc++6") == ("g++", "jq", "libstdc++6", "vim")
    assert packages_arg("vim,jq") == packages_arg(" jq  vim ") == "jq vim"
    assert parse_packages("a" * 63 + " 0") == ("0", "a" * 63)


@pytest.mark.parametrize("bad", BAD_NAMES)
def test_anything_but_a_debian_package_name_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="not a Debian package name"):
        parse_packages(f"jq {bad}")


def test_at_most_fifty_names() -> None:
    names = " ".join(f"p{i}" for i in range(MAX_PACKAGES))
    assert len(parse_packages(names)) == MAX_PACKAGES
    with pytest.raises(ValueError, match="at most 50"):
        parse_packages(names + " one-more")
    with pytest.raises(ValueError, match="characters long"):
        parse_packages(" " * 5000)


def test_the_setting_defaults_to_none_and_names_the_field_when_refused() -> None:
    assert ImageSettings().extra_packages == ""
    assert ImageSettings(extra_packages="jq, cowsay").extra_packages == "jq, cowsay"
    with pytest.raises(SettingsError, match=r"image\.extra_packages .*'jq;rm'"):
        ImageSettings(extra_packages="vim jq;rm")
    with pytest.raises(SettingsError, match=r"image\.extra_packages .*at most 50"):
        ImageSettings(extra_packages=" ".join(f"p{i}" for i in range(51)))


def test_the_setting_loads_from_the_file_and_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "cloudclaude.toml"
    path.write_text('[image]\nextra_packages = "postgresql-client graphviz"\n')
    assert settings.load(path, environ={}).image.extra_packages == "postgresql-client graphviz"
    environ = {"CLOUDCLAUDE_IMAGE__EXTRA_PACKAGES": "cowsay"}
    assert settings.load(path, environ=environ).image.extra_packages == "cowsay"
    with pytest.raises(SettingsError, match="extra_packages"):
        settings.load(None, environ={"CLOUDCLAUDE_IMAGE__EXTRA_PACKAGES": "--yes"})


@pytest.mark.parametrize("bad", BAD_NAMES)
def test_the_agent_checks_the_names_again(bad: str) -> None:
    with pytest.raises(errors.AgentError) as refused:
        check_packages(bad)
    assert refused.value.code == errors.VALIDATION_FAILED
    with pytest.raises(errors.AgentError):
        build_args(DECLARED, "", f"jq {bad}")


def test_no_packages_keep_the_tag_and_packages_make_another_image() -> None:
    tag = content_tag(DECLARED, "base:1", "sha256:a")
    assert build_args(DECLARED, "", "") == build_args(DECLARED, "2.1.331", " , ") == {}
    some = build_args(DECLARED, "", "jq,cowsay")
    assert some == {"EXTRA_PACKAGES": "cowsay jq"}
    assert content_tag(DECLARED, "base:1", "sha256:a", some) != tag
    # The same names in another order or spelling are the same image.
    again = build_args(DECLARED, "", "  jq cowsay jq")
    assert content_tag(DECLARED, "base:1", "sha256:a", again) == content_tag(
        DECLARED, "base:1", "sha256:a", some
    )
    both = build_args(DECLARED, "2.1.332", "jq")
    assert both == {"CLAUDE_CODE_VERSION": "2.1.332", "EXTRA_PACKAGES": "jq"}
    assert len({content_tag(DECLARED, "b", "i", a) for a in ({}, some, both)}) == 3


def test_packages_the_dockerfile_cannot_take_are_refused() -> None:
    with pytest.raises(errors.AgentError, match="no ARG EXTRA_PACKAGES") as refused:
        build_args({"Dockerfile": b"FROM x\n"}, "", "jq")
    assert refused.value.code == errors.VALIDATION_FAILED
    assert build_args({"Dockerfile": b"FROM x\n"}, "", "") == {}


def test_the_real_dockerfile_takes_packages_and_none_is_no_build_argument() -> None:
    files = context_files(AgentConfig())
    assert build_args(files, ImageSettings().claude_code_version, "") == {}
    assert build_args(files, "", "cowsay") == {"EXTRA_PACKAGES": "cowsay"}


async def test_bad_packages_are_refused_before_docker_is_asked(tmp_path: Path) -> None:
    docker = Docker(str(tmp_path / "no-dockerd.sock"))

    async def quiet(_stage: str, _percent: int, _message: str) -> None:
        return None

    try:
        with pytest.raises(errors.AgentError) as refused:
            await Images(docker, AgentConfig()).ensure(quiet, extra_packages="jq -y")
    finally:
        await docker.aclose()
    assert refused.value.code == errors.VALIDATION_FAILED


def test_the_requests_carry_the_packages_on_the_wire() -> None:
    for message in (
        m.EnsureImage(id=1, extra_packages="jq cowsay"),
        m.CreateHost(id=2, host_id="h", spec=m.BoxSpec(), extra_packages="jq"),
    ):
        body = encode(m.converter, message, m.Message)
        assert b'"extra_packages"' in body
        assert decode(m.converter, body, m.Message) == message
    assert (
        m.EnsureImage(id=1).extra_packages
        == m.CreateHost(id=2, host_id="h", spec=m.BoxSpec()).extra_packages
        == ""
    )


async def test_the_agent_handle_takes_the_setting() -> None:
    configured = Settings(
        agent=AgentSettings(mode="socket", socket="/nonexistent/agent.sock"),
        image=ImageSettings(extra_packages="jq, cowsay"),
    )
    async with open_agent(configured) as agent:
        assert (agent.extra_packages, agent.claude_code_version) == ("jq, cowsay", "2.1.331")

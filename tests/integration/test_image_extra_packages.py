"""``image.extra_packages``: a box image with one more Debian package, and a box made from it
(real agent, dockerd, apt from the Debian mirror inside the build).

It builds a second box image, but only its last layers (from ``ARG EXTRA_PACKAGES`` on: dockerd
keeps the first build's cache), then removes that image again, also on failure, and puts
``:latest`` back on the run's box image.
"""

from __future__ import annotations

import time

import trio

from tests.integration.box_exec import exec_in_host
from tests.integration.boxes import back_to_the_runs_image
from tests.integration.hoststack import Stack

#: A tiny Debian package the image does not have (``bc``, about 100 kB).
PACKAGE = "bc"
#: What the second build may take (measured here: 6 s, mostly ``apt-get update``).
BUILD_BUDGET_S = 600


async def test_an_extra_package_makes_another_image_that_new_boxes_run(
    stack: Stack, box_image: str
) -> None:
    agent = stack.services.agent
    assert agent.extra_packages == ""
    # A box of the run's image, which also keeps that image from being pruned by the build.
    before = await stack.running_host()
    missing = await exec_in_host(before["id"], ["sh", "-c", f"command -v {PACKAGE}"], "claude")
    assert missing.exit_code != 0, missing
    new_image = ""
    after_id = ""
    try:
        agent.extra_packages = f" {PACKAGE}, "  # as an admin might write it
        started = time.monotonic()
        with trio.fail_after(BUILD_BUDGET_S):
            ready = await agent.ensure_image()
        new_image = ready.image
        print(f"\nbox image with {PACKAGE}: {time.monotonic() - started:.0f} s")
        assert ready.built and new_image != box_image
        agent.extra_packages = PACKAGE  # the same names: the same image, no build
        again = await agent.ensure_image()
        assert not again.built and again.image == new_image

        after = await stack.running_host()  # created with the setting: the new image
        after_id = after["id"]
        state = await agent.inspect_host(after_id)
        assert state.image == new_image
        found = await exec_in_host(after_id, ["sh", "-c", f"echo 6*7 | {PACKAGE}"], "claude")
        assert (found.exit_code, found.stdout) == (0, "42\n"), found
    finally:
        with trio.CancelScope(shield=True):
            agent.extra_packages = ""
            if after_id:
                await agent.remove_host(after_id, purge=True)  # it runs the new image
            await back_to_the_runs_image(agent, new_image)

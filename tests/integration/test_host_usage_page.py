"""A running box's CPU, memory and disk use on the admin's pages: the stats sampler samples a
real box (real agent, dockerd, box image), the host page shows the current values and an SVG
chart of each, and the dashboard lists the box by name with the totals against the server."""

from __future__ import annotations

import re
import uuid

import trio

from cloudclaude.background.host_stats import StatsSampler
from tests.integration.conftest import random_name
from tests.integration.hoststack import Stack
from tests.integration.test_admin_pages import visible_text
from tests.integration.test_pages import ACTOR, PASSWORD, sign_in
from web.pages.charts import human_bytes


async def test_the_host_page_charts_a_sampled_running_box(stack: Stack) -> None:
    host = await stack.running_host()
    host_id = uuid.UUID(host["id"])
    services = stack.services
    sampler = StatsSampler(services.hosts, services.agent, services.usage, stack.live, trio.Event())
    assert await sampler.sample_once() >= 1
    await trio.sleep(1)
    await sampler.sample_once()
    latest = services.usage.latest(host_id)
    assert latest is not None and len(services.usage.history(host_id)) == 2
    assert 0 < latest.memory_bytes <= latest.memory_limit_bytes
    # The box's own disk image (1 GB), not the server's disk.
    assert 0 < latest.disk_used_bytes < latest.disk_total_bytes <= 1024**3

    admin = random_name("admin")
    await services.accounts.create(ACTOR, username=admin, role="admin", password=PASSWORD)
    client, _ = await sign_in(stack.app, admin)
    page = await client.get(f"/admin/hosts/{host_id}")
    assert page.status_code == 200
    html = await page.get_data(as_text=True)
    assert len(re.findall(r'<svg class="chart"', html)) == 3
    text = visible_text(html)
    memory = human_bytes(latest.memory_bytes), human_bytes(latest.memory_limit_bytes)
    disk = human_bytes(latest.disk_used_bytes), human_bytes(latest.disk_total_bytes)
    assert f"{memory[0]} of {memory[1]}" in text and f"{disk[0]} of {disk[1]}" in text
    assert f"{latest.cpu_percent / 100:.2f} of 2 CPUs" in text
    live = await client.get(f"/admin/hosts/{host_id}", headers={"HX-Request": "true"})
    assert '<svg class="chart"' in await live.get_data(as_text=True)  # the live fragment too

    dashboard = visible_text(await (await client.get("/admin")).get_data(as_text=True))
    owner = (await services.accounts.get(uuid.UUID(host["user_id"]))).username
    row = re.search(rf"{host['short_id']}\s+{owner}\s+running[^\n]*", dashboard)
    assert row is not None, dashboard
    assert "running boxes" in dashboard and "CPUs" in dashboard and str(host_id) not in row[0]

    # A stopped host is dropped from the history at the next round.
    _, stopped = await stack.call("POST", f"/v1/admin/hosts/{host_id}/stop")
    assert (await stack.wait_task(stopped["task_id"]))["status"] == "succeeded"
    await sampler.sample_once()
    assert services.usage.history(host_id) == ()
    html = await (await client.get(f"/admin/hosts/{host_id}")).get_data(as_text=True)
    assert '<svg class="chart"' not in html

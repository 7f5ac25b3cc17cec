"""Fixtures over real services: the run's Postgres cluster, a database per test, the app."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import pytest
import trio
import trio_asyncio
from quart_trio import QuartTrio

from agent.runtime import open_runtime
from cloudclaude.agent_client.client import embedded
from cloudclaude.agent_client.handle import Agent, open_agent
from cloudclaude.app.wiring import Services, build
from cloudclaude.core.settings import (
    AgentSettings,
    AuthSettings,
    DatabaseSettings,
    EgressSettings,
    LiveSettings,
    RateLimitSettings,
    Settings,
)
from cloudclaude.ctl.server import CtlServer
from cloudclaude.db.cluster import PrivateCluster
from cloudclaude.db.pool import Database
from cloudclaude.model.audit import Actor
from tests.integration import boxes, pg
from tests.integration.ctlserver import open_ctl_server

if TYPE_CHECKING:
    from tests.integration.browser import Browser, BrowserThread
    from tests.integration.hoststack import Stack
    from tests.integration.netsim import SimInternet
    from tests.integration.sshstack import SshStack
from web.app import create_app

ADMIN_PASSWORD = "admin-password-123"
#: Hosts made by tests are bound to the simulated internet's ``direct`` exit (see netsim).
SIM_EXIT = "sim-direct"
FAST_AUTH = AuthSettings(argon2_time_cost=1, argon2_memory_kib=8192, hash_concurrency=4)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PrivateCluster]:
    yield from pg.start_cluster()


@pytest.fixture(scope="session")
def boxes_state() -> Iterator[Path]:
    """The agent state directory (home volumes) shared by every test that makes boxes."""
    yield from boxes.session_state_dir()


@pytest.fixture(scope="session")
def box_image(boxes_state: Path) -> str:
    """The real box image, built once per run (a no-op when its inputs are unchanged)."""
    return boxes.build_image(boxes_state)


@pytest.fixture
def database_url(pg_cluster: PrivateCluster) -> Iterator[str]:
    yield from pg.fresh_database(pg_cluster)


@pytest.fixture
def state_dir() -> Iterator[Path]:
    path = pg.scratch_dir("cc-state-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def backup_dir() -> Iterator[Path]:
    """A scratch directory for a backup repository and its password (outside any state dir)."""
    path = pg.scratch_dir("cc-backup-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def settings(database_url: str, state_dir: Path) -> Settings:
    return Settings(
        state_dir=str(state_dir),
        auth=FAST_AUTH,
        rate_limits=RateLimitSettings(login_per_address=1000, login_per_user=1000),
        database=DatabaseSettings(url=database_url),
        agent=AgentSettings(mode="embedded", egress_pool=boxes.EGRESS_POOL),
    )


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    async with trio_asyncio.open_loop(), Database.open(database_url, max_size=5) as database:
        yield database


@pytest.fixture
async def agent(settings: Settings) -> AsyncIterator[Agent]:
    async with open_agent(settings) as handle:
        yield handle


@pytest.fixture
async def services(settings: Settings, db: Database, agent: Agent) -> Services:
    return await build(LiveSettings(settings), db, agent)


def with_sim_exit(settings: Settings) -> Settings:
    """Settings whose new hosts are bound to the simulated internet's ``direct`` exit."""
    return attrs.evolve(settings, egress=EgressSettings(default_exit=SIM_EXIT))


async def add_sim_exit(services: Services) -> None:
    """The exit ``with_sim_exit`` names; starting a host on it needs ``sim_internet``.

    Its fields are fixed addresses, so making it needs no running simulated internet.
    """
    from tests.integration.netsim import SimInternet

    await services.exits.create(Actor(name="test"), SimInternet().direct_exit())


@pytest.fixture
async def admin(services: Services) -> dict[str, Any]:
    user, _ = await services.accounts.create(
        Actor(name="test"), username="root-admin", role="admin", password=ADMIN_PASSWORD
    )
    result = await services.accounts.login("root-admin", ADMIN_PASSWORD, "127.0.0.1")
    return {"user": user, "token": result.token, "headers": bearer(result.token)}


@pytest.fixture
def app(settings: Settings, services: Services) -> QuartTrio:
    return create_app(LiveSettings(settings), services)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def random_name(prefix: str = "u") -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def stack(
    settings: Settings, db: Database, boxes_state: Path, box_image: str, sim_internet: SimInternet
) -> AsyncIterator[Stack]:
    from tests.integration.hoststack import open_stack  # it imports this module's helpers

    async for value in open_stack(settings, db, boxes_state, workers=True):
        yield value


@pytest.fixture
async def idle_stack(settings: Settings, db: Database, boxes_state: Path) -> AsyncIterator[Stack]:
    """No task workers: queued tasks stay pending."""
    from tests.integration.hoststack import open_stack

    async for value in open_stack(settings, db, boxes_state, workers=False):
        yield value


@pytest.fixture
async def ssh_stack(
    settings: Settings,
    db: Database,
    boxes_state: Path,
    box_image: str,
    tmp_path: Path,
    sim_internet: SimInternet,
) -> AsyncIterator[SshStack]:
    """The host stack with the SSH proxy on a loopback port, and an OpenSSH client set-up."""
    from tests.integration.sshstack import open_ssh_stack

    async for value in open_ssh_stack(settings, db, boxes_state, tmp_path):
        yield value


@pytest.fixture
async def box_agent(boxes_state: Path, box_image: str) -> AsyncIterator[Agent]:
    async with (
        open_runtime(boxes.agent_config(boxes_state)) as dispatcher,
        embedded(dispatcher) as client,
    ):
        yield Agent("embedded", client)


@pytest.fixture
async def new_host(box_agent: Agent) -> AsyncIterator[Callable[[], str]]:
    """Host ids for this test; their containers, gateways and volumes are removed afterwards."""
    made: list[str] = []

    def make() -> str:
        made.append(boxes.new_host_id())
        return made[-1]

    yield make
    for host_id in made:
        with trio.CancelScope(shield=True):
            await box_agent.remove_host(host_id, purge=True)


@pytest.fixture(scope="session")
def sim_internet(boxes_state: Path) -> Iterator[SimInternet]:
    """The simulated internet (netns ``ccsim-inet``, exits, whoami, logging DNS), once per run.

    It takes the boxes' lock first (through ``boxes_state``), so two runs always take the two
    machine-wide locks in the same order.
    """
    from tests.integration.netsim import running_sim

    yield from running_sim()


@pytest.fixture(scope="session")
def chromium() -> Iterator[BrowserThread]:
    """Playwright and Debian's headless Chromium, once per run (tests/integration/browser)."""
    from tests.integration.browser import BrowserThread

    with BrowserThread.launch() as thread:
        yield thread


@pytest.fixture
async def browser(chromium: BrowserThread) -> AsyncIterator[Browser]:
    """This test's pages; all closed after it, also when it fails."""
    async with chromium.session() as session:
        yield session


@pytest.fixture
async def slow_watch_agent(boxes_state: Path, box_image: str) -> AsyncIterator[Agent]:
    """An agent that looks for dead sing-box processes only every 5 s (room to look first)."""
    config = attrs.evolve(boxes.agent_config(boxes_state), egress_watch_s=5.0)
    async with open_runtime(config) as dispatcher, embedded(dispatcher) as client:
        yield Agent("embedded", client)


@pytest.fixture
async def ctl(settings: Settings, services: Services) -> AsyncIterator[CtlServer]:
    """The control server on a scratch socket, with the test's services."""
    async with open_ctl_server(settings, services) as server:
        yield server

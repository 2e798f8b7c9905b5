"""Fixtures: a virtual stick on a real pty over a HAN, unmodified bellows connected to it, and ``hanrig sim
stick`` started as its own process, as a user runs it."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import bellows.zigbee.application as bellows_app
import pytest
import zigpy.config as zconf
from ezsp_fake_han import DEVICE_IEEE, FakeHan

from hal.ezsp_stick.pty import VirtualStick

JOIN_WAIT_S = 5.0
BIN = Path(sys.executable).parent


def bellows_config(path: str, *, baudrate: int = 115200, use_thread: bool = True) -> dict:
    return {
        zconf.CONF_DEVICE: {zconf.CONF_DEVICE_PATH: path, zconf.CONF_DEVICE_BAUDRATE: baudrate},
        zconf.CONF_DATABASE: None,
        zconf.CONF_NWK: {zconf.CONF_NWK_CHANNEL: 15},
        "use_thread": use_thread,
    }


@pytest.fixture
def han() -> FakeHan:
    return FakeHan()


@pytest.fixture
async def stick(han: FakeHan, request: pytest.FixtureRequest) -> AsyncIterator[VirtualStick]:
    version = getattr(request, "param", 13)
    virtual = VirtualStick(han, baudrate=115200, version=version)
    await virtual.start()
    await han.start()
    yield virtual
    await han.stop()
    await virtual.stop()


@pytest.fixture
async def app(stick: VirtualStick) -> AsyncIterator[bellows_app.ControllerApplication]:
    application = await bellows_app.ControllerApplication.new(
        bellows_config(stick.path), auto_form=True, start_radio=True)
    yield application
    with contextlib.suppress(Exception):
        await application.shutdown()


async def wait_for(predicate, timeout: float = JOIN_WAIT_S, what: str = "condition") -> None:
    """Poll ``predicate`` (the stick runs in real time) and fail naming ``what`` on timeout."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


async def join_device(app: bellows_app.ControllerApplication):
    await app.permit(10)
    await wait_for(lambda: DEVICE_IEEE in app.devices and app.devices[DEVICE_IEEE].model is not None,
                   what="the device to join and be interviewed (model read)")
    return app.devices[DEVICE_IEEE]


class SimStickProcess:
    """``hanrig sim stick ARGS`` in its own process; ``first_line`` is what it prints once serving (its pty
    path, or its socket:// URL with ``--tcp``)."""

    def __init__(self, env: dict[str, str], args: tuple[str, ...]) -> None:
        self.proc = subprocess.Popen([str(BIN / "hanrig"), "sim", "stick", *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=env)
        self.first_line = self.proc.stdout.readline().strip()

    def stop(self, timeout: float = 15) -> str:
        """SIGTERM, as a user stops it; returns what it wrote to stderr."""
        self.proc.send_signal(signal.SIGTERM)
        _, err = self.proc.communicate(timeout=timeout)
        return err


@pytest.fixture
def sim_stick() -> Iterator[Callable[..., SimStickProcess]]:
    """Starts ``hanrig sim stick`` with (env, *args); whatever a test left running is stopped after it."""
    started: list[SimStickProcess] = []

    def start(env: dict[str, str], *args: str) -> SimStickProcess:
        started.append(SimStickProcess(env, args))
        return started[-1]

    yield start
    for stick in started:
        if stick.proc.poll() is None:
            stick.stop()

"""Helpers for the OTA server tests: a gateway session over simulated benches on virtual time."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import hal
from firmware_images import DIRECTORY as SAMPLES
from gateway.session import Gateway, RadioEndpoint
from hal.sim.config import SimConfig, SimSettings, default_bench

IHD_EUI = "00:0d:6f:00:0a:bc:00:03"
PPMID_EUI = "00:0d:6f:00:0a:bc:00:04"
HCALCS_EUI = "00:0d:6f:00:0a:bc:00:05"
NEW_VERSION = 0x00010100
OLD_VERSION = 0x00010000


def sample(role: str, version: int = NEW_VERSION) -> Any:
    """The path of a bundled TEST-ONLY sample image."""
    return next(SAMPLES.glob(f"TEST-ONLY-{role}-*-{version:08x}.ota"))


OTA_ROLES = ("ihd", "ppmid", "hcalcs")


def bench(settings: SimSettings | None = None, *, roles: tuple[str, ...] = OTA_ROLES,
          **device_params: Any) -> SimConfig:
    """The default bench's devices of ``roles`` (the meters only when asked: they have no sample images
    and their background traffic costs test time); ``ihd={...}`` changes one device's sim params."""
    config = default_bench(settings)
    devices = []
    for spec in config.devices:
        if spec.id not in roles:
            continue
        changes = dict(device_params.get(spec.id, {}))
        if "query_jitter_s" not in changes:
            changes["query_jitter_s"] = 0.5  # devices query soon after Image Notify: shorter tests
        # no CBKE here: a key established mid-push would shrink the blocks to the APS-secured budget
        # (tests/rigs/test_cbke_step.py checks that); these tests are about the OTA server's sizing
        changes.setdefault("cbke_suite", 0)
        devices.append(dataclasses.replace(spec, sim=dataclasses.replace(spec.sim, **changes)))
    return config.replace(devices=tuple(devices))


@contextlib.asynccontextmanager
async def open_gateway(*configs: SimConfig) -> AsyncIterator[Gateway]:
    """A gateway over one simulated radio per config (channels 15, 20, 25, ...)."""
    endpoints = [RadioEndpoint(f"radio{i}", "sim://", hal.RadioConfig(sim=config, channel=15 + 5 * i))
                 for i, config in enumerate(configs or (bench(),))]
    async with Gateway.open(endpoints) as gw:
        yield gw


def virtual_device(gw: Gateway, device_id: str, radio: str = "radio0") -> Any:
    """The simulated device behind a radio (``hal.sim`` object), for checks on what it received."""
    return gw.apps[radio].han.device(device_id)

"""A virtual device's alarms, a component of ``VirtualDevice`` (as DRLC and tenancy are): ZCL Alarms
(0x0009) "alarm" commands to the hub, at ``[devices.sim] alert_rate_hz`` (or as fast as an
``alert_storm`` fault or ``gw.sim().alert_storm`` asks), which is what the hub's SECMP0062 storm
protection throttles. AlarmCount (0x0000) counts them.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from zigpy.zcl.clusters.general import Alarms

from .wire import zcl_cluster_command


class AlarmHost(Protocol):
    """What the alarms need from their device."""

    def next_tsn(self) -> int: ...
    def alarm_source_cluster(self) -> int: ...
    async def send_to_hub(self, cluster_id: int, data: bytes) -> bool: ...


class DeviceAlarms:
    """One device's alarm source (see the module docstring)."""

    def __init__(self, host: AlarmHost, rate_hz: float = 0.0) -> None:
        self.host = host
        self._rate_hz = rate_hz
        self._rate_changed = asyncio.Event()
        self.sent = 0  # alarms the MAC delivered to the hub
        self.lost = 0  # alarms the MAC gave up on (a storm can fill a CSMA channel)
        self.attributes: dict[int, Any] = {Alarms.AttributeDefs.alarm_count.id: 0}

    async def send(self, alarm_code: int, cluster_id: int) -> None:
        """ZCL Alarms "alarm" command (server to client) to the hub.

        Sent with the default response disabled (our rule for the simulated devices, as battery-minded
        SE firmware does): an alarm needs no answer, and a storm then costs the channel one frame per
        alarm instead of two, and a sleepy device's parent no queue of replies."""
        data = zcl_cluster_command(
            Alarms,
            self.host.next_tsn(),
            "alarm",
            server_to_client=True,
            disable_default_response=True,
            alarm_code=alarm_code,
            cluster_id=cluster_id,
        )
        self.attributes[Alarms.AttributeDefs.alarm_count.id] = min(self.sent + self.lost + 1, 0xFFFF)
        # counted once the MAC (and APS) layers are done with it
        if await self.host.send_to_hub(Alarms.cluster_id, data):
            self.sent += 1
        else:
            self.lost += 1

    @property
    def rate_hz(self) -> float:
        """How many ZCL alarms per second the device emits (0 = none)."""
        return self._rate_hz

    @rate_hz.setter
    def rate_hz(self, rate: float) -> None:
        self._rate_hz = rate
        self._rate_changed.set()

    async def loop(self) -> None:
        """The device's behaviour: alarms at ``rate_hz``, each with the next code (mod 256)."""
        code = 0
        while True:
            if self._rate_hz <= 0:
                # sleep until someone turns alerts on rather than ticking through idle hours
                self._rate_changed.clear()
                await self._rate_changed.wait()
                continue
            await asyncio.sleep(1.0 / self._rate_hz)
            if self._rate_hz > 0:
                code = (code + 1) & 0xFF
                await self.send(code, self.host.alarm_source_cluster())

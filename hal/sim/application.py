"""``SimApplication``: the ``sim://`` zigpy radio, a ControllerApplication whose "stick" is a VirtualHan.

It implements every abstract method of ``zigpy.application.ControllerApplication`` the way a real radio
library does (compare ``bellows/zigbee/application.py``): connect to the stick, load/write network
info, start the network and create the coordinator device, send packets (returning once delivered,
raising ``DeliveryError`` otherwise), and feed received frames, joins and leaves to zigpy. When the
virtual stick is unplugged it reports ``connection_lost`` and reconnects once the stick is back, as
bellows does after a serial disconnect.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import AsyncGenerator
from typing import Any

import zigpy.application
import zigpy.config as zigpy_conf
import zigpy.device
import zigpy.endpoint
import zigpy.exceptions
import zigpy.state
import zigpy.types as zigpy_t
import zigpy.zdo.types as zdo_t

from ..zigpy_fixes import zigpy_ota_disabled
from .control import HanControl
from .exceptions import SimDeliveryError
from .han import NetworkParams, VirtualHan

LOGGER = logging.getLogger(__name__)

CONF_SIM_HAN = "hanrig_sim_han"  # zigpy config key carrying the VirtualHan this radio drives
RECONNECT_POLL_S = 1.0  # how often a disconnected app looks for the stick again
# how long disconnect waits for zigpy's senders whose frames the stopping PAN failed: zigpy retries a
# failed send (DEFAULT_REQUEST_RETRIES after DEFAULT_REQUEST_RETRY_DELAY each), and each retry fails at
# once on a disconnected radio, so they end within a few tenths of a second
SENDERS_SETTLE_S = 2.0
SIM_STACK_VERSION = "hanrig-sim 1"


class SimCoordinator(zigpy.device.Device):
    """The coordinator's own zigpy device: its endpoints are what ``add_endpoint`` registered."""

    @property
    def manufacturer(self) -> str:
        return "hanrig"

    @manufacturer.setter
    def manufacturer(self, value: str) -> None:  # the stick decides, not the database
        pass

    @property
    def model(self) -> str:
        return "sim:// coordinator"

    @model.setter
    def model(self, value: str) -> None:
        pass


class SimApplication(zigpy.application.ControllerApplication):
    """A zigpy radio backed by a :class:`VirtualHan` (passed in the config under ``CONF_SIM_HAN``)."""

    def __init__(self, config: dict[str, Any]) -> None:
        han = config.get(CONF_SIM_HAN)
        if not isinstance(han, VirtualHan):
            raise ValueError(f"SimApplication needs a VirtualHan in config[{CONF_SIM_HAN!r}]")
        super().__init__(config)
        self.han: VirtualHan = han
        self.control = HanControl(han)  # the simulator control protocol (hal.simcontrol), for gw.sim
        self._endpoints: list[zdo_t.SimpleDescriptor] = []
        self._connected = False
        self._reconnect_task: asyncio.Task[None] | None = None
        self._closing = False
        self._failed_at_close: set[asyncio.Task[Any]] = set()  # zigpy senders disconnect lets finish

    def utc_now(self) -> dt.datetime:
        """The coordinator's UTC clock: the PAN's (docs/upstream/0003 makes zigpy's Time server ask it)."""
        return self.control.utc_now()

    # ------------------------------------------------------------------ connection
    async def connect(self) -> None:
        if not self.han.stick_present:
            raise ConnectionRefusedError("the simulated stick is unplugged")
        self.han.attach(self)
        self._connected = True

    async def disconnect(self) -> None:
        self._connected = False
        self._closing = True
        if self._reconnect_task is not None:
            self._reconnect_task.cancel()
            self._reconnect_task = None
        self.han.detach(self)
        try:
            await self.han.stop()
            await self._let_failed_senders_finish()
        finally:
            self._closing = False

    async def _let_failed_senders_finish(self) -> None:
        """Wait (bounded) for the zigpy tasks whose frames failed because the PAN stopped.

        A frame still queued for a sleepy device's poll fails when the PAN stops, and zigpy retries it
        after a delay; were the loop to close first, the retrying task would be cancelled mid-sleep and
        zigpy would log the cancellation as an error with a traceback (e.g. a Time read reply to a
        sleepy GSME at the end of ``hanrig alerts watch``). Each retry now fails at once, so they end.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SENDERS_SETTLE_S
        while pending := {task for task in self._failed_at_close
                          if not task.done() and task is not asyncio.current_task()}:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            await asyncio.wait(pending, timeout=remaining)
        self._failed_at_close.clear()

    def _failed_while_closing(self) -> None:
        task = asyncio.current_task()
        if self._closing and task is not None:
            self._failed_at_close.add(task)

    async def _watchdog_feed(self) -> None:
        if not self.han.stick_present:
            raise ConnectionError("the simulated stick does not answer")

    # ------------------------------------------------------------------ network
    async def load_network_info(self, *, load_devices: bool = False) -> None:
        net = self.han.network
        if not net.formed:
            raise zigpy.exceptions.NetworkNotFormed("the simulated coordinator has no network")
        self.state.node_info = zigpy.state.NodeInfo(
            nwk=zigpy_t.NWK(0x0000),
            ieee=net.coordinator_ieee,
            logical_type=zdo_t.LogicalType.Coordinator,
            manufacturer="hanrig",
            model="sim:// coordinator",
            version=SIM_STACK_VERSION,
        )
        self.state.network_info = zigpy.state.NetworkInfo(
            source=f"hanrig-sim@{SIM_STACK_VERSION}",
            extended_pan_id=zigpy_t.ExtendedPanId(net.extended_pan_id),
            pan_id=zigpy_t.PanId(net.pan_id),
            nwk_update_id=zigpy_t.uint8_t(net.nwk_update_id),
            nwk_manager_id=zigpy_t.NWK(0x0000),
            channel=zigpy_t.uint8_t(net.channel),
            channel_mask=zigpy_t.Channels.from_channel_list([net.channel]),
            security_level=zigpy_t.uint8_t(5),
            network_key=zigpy.state.Key(key=net.network_key, seq=0, tx_counter=0),
            tc_link_key=zigpy.state.Key(key=net.tc_link_key, partner_ieee=net.coordinator_ieee),
            children=[],
            key_table=[],
            nwk_addresses={},
            stack_specific={},
            metadata={},
        )
        if load_devices:
            for device in self.han.devices.values():
                if device.joined:
                    self.state.network_info.nwk_addresses[device.ieee] = zigpy_t.NWK(device.nwk)

    async def write_network_info(
        self, *, network_info: zigpy.state.NetworkInfo, node_info: zigpy.state.NodeInfo
    ) -> None:
        await self.han.form(
            NetworkParams(
                channel=int(network_info.channel),
                pan_id=int(network_info.pan_id),
                extended_pan_id=zigpy_t.EUI64(network_info.extended_pan_id),
                network_key=network_info.network_key.key,
                tc_link_key=network_info.tc_link_key.key,
                nwk_update_id=int(network_info.nwk_update_id),
                coordinator_ieee=self.han.network.coordinator_ieee,
            )
        )

    async def reset_network_info(self) -> None:
        self.han.network.formed = False

    async def start_network(self) -> None:
        await self.load_network_info(load_devices=False)
        await self.register_endpoints()
        node = self.state.node_info
        coordinator = SimCoordinator(self, node.ieee, node.nwk)
        coordinator.node_desc = zdo_t.NodeDescriptor(
            logical_type=zdo_t.LogicalType.Coordinator,
            complex_descriptor_available=0,
            user_descriptor_available=0,
            reserved=0,
            aps_flags=0,
            frequency_band=zdo_t.NodeDescriptor.FrequencyBand.Freq2400MHz,
            mac_capability_flags=(
                zdo_t.NodeDescriptor.MACCapabilityFlags.AlternatePanCoordinator
                | zdo_t.NodeDescriptor.MACCapabilityFlags.FullFunctionDevice
                | zdo_t.NodeDescriptor.MACCapabilityFlags.MainsPowered
                | zdo_t.NodeDescriptor.MACCapabilityFlags.RxOnWhenIdle
                | zdo_t.NodeDescriptor.MACCapabilityFlags.AllocateAddress
            ),
            manufacturer_code=0x1234,
            maximum_buffer_size=82,
            maximum_incoming_transfer_size=82,
            server_mask=0x0041,
            maximum_outgoing_transfer_size=82,
            descriptor_capability_field=zdo_t.NodeDescriptor.DescriptorCapability.NONE,
        )
        for descriptor in self._endpoints:
            endpoint = coordinator.add_endpoint(descriptor.endpoint)
            endpoint.profile_id = descriptor.profile
            endpoint.device_type = descriptor.device_type
            for cluster_id in descriptor.input_clusters:
                endpoint.add_input_cluster(cluster_id)
            for cluster_id in descriptor.output_clusters:
                endpoint.add_output_cluster(cluster_id)
            endpoint.status = zigpy.endpoint.Status.ZDO_INIT
        self.devices[node.ieee] = coordinator
        task = coordinator.schedule_initialize()
        if task is not None:
            await task
        await self.han.start()

    async def add_endpoint(self, descriptor: zdo_t.SimpleDescriptor) -> None:
        self._endpoints = [d for d in self._endpoints if d.endpoint != descriptor.endpoint] + [descriptor]

    async def force_remove(self, dev: zigpy.device.Device) -> None:
        device = self.han.devices.get(dev.ieee)
        if device is not None and device.joined:
            device.leave()

    async def permit_ncp(self, time_s: int = 60) -> None:
        await self.han.permit_join(time_s)

    async def permit_with_link_key(
        self, node: zigpy_t.EUI64, link_key: zigpy_t.KeyData, time_s: int = 60
    ) -> None:
        """As bellows does: hand the trust centre the device's key, then open the network."""
        self.han.add_transient_key(node, bytes(link_key))
        await self.permit(time_s)

    async def energy_scan(
        self, channels: zigpy_t.Channels, duration_exp: int, count: int
    ) -> dict[int, float]:
        results: dict[int, float] = dict.fromkeys(channels, 0.0)
        for _ in range(count):
            scan = await self.han.energy_scan(channels, duration_exp)
            for channel, energy in scan.items():
                results[channel] = max(results[channel], float(energy))
        return results

    async def _network_scan(
        self, channels: zigpy_t.Channels, duration_exp: int
    ) -> AsyncGenerator[zigpy_t.NetworkBeacon, None]:
        for beacon in await self.han.network_scan(list(channels), duration_exp):
            yield beacon

    # ------------------------------------------------------------------ frames
    async def send_packet(self, packet: zigpy_t.ZigbeePacket) -> None:
        if not self._connected:
            self._failed_while_closing()
            raise zigpy.exceptions.DeliveryError(
                "the simulated stick is not connected",
                status=int(zigpy_t.MACStatus.MAC_CHANNEL_ACCESS_FAILURE),
            )
        if (
            packet.dst is not None
            and packet.dst.addr_mode == zigpy_t.AddrMode.NWK
            and packet.dst.address == 0
        ):
            return  # frames to ourselves never reach the air
        async with self._limit_concurrency(priority=packet.priority):
            try:
                await self.han.send(packet)
            except SimDeliveryError as exc:
                self._failed_while_closing()
                raise zigpy.exceptions.DeliveryError(str(exc), status=exc.status) from exc

    # ------------------------------------------------------------------ CoordinatorListener
    def on_packet(self, packet: zigpy_t.ZigbeePacket) -> None:
        self.packet_received(packet)

    def on_join(self, nwk: int, ieee: zigpy_t.EUI64, parent_nwk: int) -> None:
        self.handle_join(zigpy_t.NWK(nwk), ieee, zigpy_t.NWK(parent_nwk))

    def on_leave(self, nwk: int, ieee: zigpy_t.EUI64) -> None:
        self.handle_leave(zigpy_t.NWK(nwk), ieee)

    def on_stick_lost(self) -> None:
        if not self._connected:
            return
        self._connected = False
        self.han.detach(self)
        self.connection_lost(ConnectionError("the simulated stick was unplugged"))
        self._reconnect_task = asyncio.get_running_loop().create_task(self._reconnect())

    def on_stick_back(self) -> None:
        """Nothing to do here: the reconnect loop notices the stick on its next look."""

    async def _reconnect(self) -> None:
        while not self.han.stick_present:
            await asyncio.sleep(RECONNECT_POLL_S)
        await self.connect()
        await self.load_network_info(load_devices=False)
        if self.config[zigpy_conf.CONF_WATCHDOG_ENABLED] and (
            self._watchdog_task is None or self._watchdog_task.done()
        ):
            # zigpy's watchdog loop ends on a failure; a reconnected radio needs a new one
            self._watchdog_task = asyncio.get_running_loop().create_task(self._watchdog_loop())
        LOGGER.info("simulated stick is back; reconnected")
        self.listener_event("connection_restored")


def sim_zigpy_config(han: VirtualHan, url: str, *, database_path: str | None = None) -> dict[str, Any]:
    """The zigpy configuration a ``sim://`` radio runs with: nothing periodic that real benches don't need."""
    return {
        zigpy_conf.CONF_DEVICE: {zigpy_conf.CONF_DEVICE_PATH: url},
        zigpy_conf.CONF_DATABASE: database_path,
        zigpy_conf.CONF_TOPO_SCAN_ENABLED: False,
        zigpy_conf.CONF_NWK_BACKUP_ENABLED: False,
        zigpy_conf.CONF_OTA: zigpy_ota_disabled(),
        CONF_SIM_HAN: han,
    }

"""The timing model against the shared ota-link-model numbers, and the virtual PAN timing frames with it."""

from __future__ import annotations

import asyncio

import pytest
import zigpy.types as zigpy_t

from hal.sim.config import default_bench
from hal.sim.han import VirtualHan
from hal.sim.wire import SE_PROFILE
from ota import link_model as timing
from ota.link_model import LinkModel


def test_block_exchange_matches_the_shared_model():
    # ota-link-model.md: 64-byte block, 1 hop, NWK security, APS ACKs: ~20.2 ms of air per block
    model = LinkModel()
    assert model.block_exchange_air_us(64) / 1000 == pytest.approx(20.2, rel=0.02)
    assert 64 / (model.block_exchange_air_us(64) / 1e6) == pytest.approx(3200, rel=0.02)  # ≈3.2 kB/s
    assert model.block_exchange_air_us(64, hops=2) / model.block_exchange_air_us(64) == pytest.approx(
        2, rel=0.05
    )


def test_frame_limits_match_the_shared_model():
    assert timing.max_aps_payload() == 82
    assert timing.max_aps_payload(aps_security=True) == 73
    assert timing.max_ota_block() == 65
    assert timing.max_ota_block(aps_security=True) == 56
    assert timing.max_ota_block(relays=1) == 61
    assert timing.T_MAC_ACK_US == 544 and timing.T_CSMA_MEAN_US == 1440


def test_host_link_cost_at_115200_baud():
    # ota-link-model.md: at 115200 baud a 64-byte block costs ≈13 ms of serial time on the critical path
    model = LinkModel(host_link_baudrate=115200)
    critical = model.shared_host_rx_us(3 + 14) + model.shared_host_tx_us(3 + 14 + 64)
    assert critical / 1000 == pytest.approx(13.4, rel=0.02)
    # hanrig's lean path (the host knows the extended-timeout state) is the shared model's
    lean = model.host_rx_us(3 + 14) + model.host_tx_us(3 + 14 + 64)
    assert lean == pytest.approx(critical)
    # bellows as shipped adds getExtendedTimeout and its response and two ACKs before the sendUnicast
    shipped = LinkModel(host_link_baudrate=115200, host_send=timing.HostSend.BELLOWS)
    honest = shipped.host_rx_us(3 + 14) + shipped.host_tx_us(3 + 14 + 64)
    extra = timing.ash_data_bytes(8) + timing.ash_data_bytes(1) + 2 * timing.ASH_ACK
    assert honest - critical == pytest.approx(model.uart_us(extra))
    # XNCP's combined send carries 12 more octets than sendUnicast, and no round trip before it
    xncp = LinkModel(host_link_baudrate=115200, host_send=timing.HostSend.XNCP)
    assert xncp.host_tx_us(81) - model.host_tx_us(81) == pytest.approx(model.uart_us(12 * (1 + 6 / 256)))
    assert LinkModel(host_link_baudrate=921600).host_tx_us(81) < 2000


def test_host_link_bytes_per_block_by_ezsp_version():
    shared_out, shared_in = timing.shared_uart_block_bytes(64)
    assert shared_out + shared_in == pytest.approx(207, abs=1)  # ota_limit.uart_per_block(64, ...)
    shipped = {"host_send": timing.HostSend.BELLOWS, "message_contents_in_callback": True}
    v13_out, v13_in = timing.host_link_block_bytes(64, ezsp_version=13, **shipped)
    _, v14_in = timing.host_link_block_bytes(64, ezsp_version=14, **shipped)
    # with the contents policy, messageSentHandler echoes the 81-octet response: as long as the
    # sendUnicast that carried it
    assert v13_in["messageSentHandler"] == pytest.approx(v13_out["sendUnicast"], abs=2)
    assert sum(v13_out.values()) + sum(v13_in.values()) == pytest.approx(326, abs=1)
    # the lean path: no getExtendedTimeout, a tag-only messageSentHandler (the NCP's default policy);
    lean_out, lean_in = timing.host_link_block_bytes(64, ezsp_version=13)
    assert set(lean_out) == {"sendUnicast", "ACK"} and lean_out["ACK"] == 3 * timing.ASH_ACK
    assert lean_in["ACK"] == 1 * timing.ASH_ACK
    # and counts the same frames as the shared model (which leaves out messageSentHandler's length octet)
    assert sum(lean_out.values()) + sum(lean_in.values()) - (shared_out + shared_in) == pytest.approx(
        1 + 6 / 256)
    # v14 statuses are 4 octets and the incoming callback carries the sender's EUI-64 and a timestamp
    assert v14_in["incomingMessageHandler"] - v13_in["incomingMessageHandler"] == pytest.approx(12, abs=0.5)
    assert sum(v14_in.values()) > sum(v13_in.values())
    assert timing.ezsp_layout(8) is timing.ezsp_layout(13) is timing.EZSP_LAYOUT_V8
    assert timing.ezsp_layout(17) is timing.EZSP_LAYOUT_V14
    with pytest.raises(ValueError, match="EZSP version 7"):
        timing.ezsp_layout(7)


def test_ezsp_layouts_match_bellows_schemas():
    """Each layout octet count is what bellows serialises for that version's schema."""
    import bellows.types as bt
    from bellows.ezsp import EZSP

    def encoded(version: int, name: str, direction: int) -> int:
        schema = EZSP._BY_VERSION[version].COMMANDS[name][direction]
        values = {}
        for key, kind in schema.items():
            if kind is bt.LVBytes:
                values[key] = kind(b"")
            elif issubclass(kind, bt.EmberApsFrame):
                values[key] = kind(profileId=0, clusterId=0, sourceEndpoint=0, destinationEndpoint=0,
                                   options=0, groupId=0, sequence=0)
            else:
                values[key] = kind.deserialize(bytes(16))[0]
        return len(b"".join(kind(values[key]).serialize() for key, kind in schema.items()))

    for version, layout in ((8, timing.EZSP_LAYOUT_V8), (13, timing.EZSP_LAYOUT_V8),
                            (14, timing.EZSP_LAYOUT_V14), (17, timing.EZSP_LAYOUT_V14)):
        assert encoded(version, "incomingMessageHandler", 2) == layout.incoming_message
        assert encoded(version, "sendUnicast", 1) == layout.send_unicast
        assert encoded(version, "sendUnicast", 2) == layout.send_unicast_response
        assert encoded(version, "messageSentHandler", 2) == layout.message_sent
        assert encoded(version, "getExtendedTimeout", 1) == layout.extended_timeout_command
        assert encoded(version, "getExtendedTimeout", 2) == layout.extended_timeout_response


def test_zero_latency_model_costs_nothing():
    assert timing.ZERO_LATENCY.block_exchange_air_us(64) == 0
    assert timing.ZERO_LATENCY.host_tx_us(100) == 0


# CSMA-CA draws each backoff at random (0..7 unit periods); the model counts the mean (3.5 periods)
BACKOFF_SPREAD_US = 3.5 * timing.UNIT_BACKOFF_US


def _within_backoffs(elapsed_us: float, expected_us: float, transmissions: int) -> bool:
    return abs(elapsed_us - expected_us) <= transmissions * BACKOFF_SPREAD_US + 1


def _packet(dst_nwk: int, payload: bytes) -> zigpy_t.ZigbeePacket:
    return zigpy_t.ZigbeePacket(
        src=zigpy_t.AddrModeAddress(addr_mode=zigpy_t.AddrMode.NWK, address=0x0000),
        src_ep=1,
        dst=zigpy_t.AddrModeAddress(addr_mode=zigpy_t.AddrMode.NWK, address=dst_nwk),
        dst_ep=0xF0,
        profile_id=SE_PROFILE,
        cluster_id=0x0019,
        data=zigpy_t.SerializableBytes(payload),
    )


class _Sink:
    def __init__(self) -> None:
        self.packets: list[zigpy_t.ZigbeePacket] = []

    def on_packet(self, packet):
        self.packets.append(packet)

    def on_join(self, nwk, ieee, parent_nwk):
        pass

    def on_leave(self, nwk, ieee):
        pass


@pytest.mark.looptime
async def test_each_frame_occupies_the_channel_for_its_modelled_air_time():
    han = VirtualHan(default_bench())
    han.attach(_Sink())
    await han.start()
    loop = asyncio.get_running_loop()
    ihd = han.device("ihd")
    response = bytes(3 + 14 + 64)  # an Image Block Response carrying 64 bytes (endpoint 0xF0: ignored)
    start = loop.time()
    await han.send(_packet(ihd.nwk, response))
    # the data frame and the device's APS ACK: each one CSMA-CA transmission
    assert _within_backoffs((loop.time() - start) * 1e6, han.model.frame_air_us(len(response)), 2)
    await han.stop()


@pytest.mark.looptime
async def test_one_shared_channel_serialises_frames_to_different_devices():
    han = VirtualHan(default_bench())
    han.attach(_Sink())
    await han.start()
    loop = asyncio.get_running_loop()
    payload = bytes(81)
    one = han.model.frame_air_us(len(payload))
    start = loop.time()
    await asyncio.gather(*(han.send(_packet(han.device(d).nwk, payload)) for d in ("ihd", "ppmid", "esme")))
    # one after another (the coordinator sends one frame at a time; the ACKs contend with the next one)
    elapsed = (loop.time() - start) * 1e6
    assert elapsed >= 3 * (one - 2 * BACKOFF_SPREAD_US)
    assert han.channel.stats.attempts >= 6
    await han.stop()


@pytest.mark.looptime
async def test_host_link_adds_uart_time_to_each_coordinator_frame():
    from hal.sim.config import SimSettings

    han = VirtualHan(default_bench(SimSettings(host_link_baudrate=115200)))
    han.attach(_Sink())
    await han.start()
    loop = asyncio.get_running_loop()
    payload = bytes(81)
    start = loop.time()
    await han.send(_packet(han.device("ihd").nwk, payload))
    expected = han.model.host_tx_us(len(payload)) + han.model.frame_air_us(len(payload))
    assert _within_backoffs((loop.time() - start) * 1e6, expected, 2)
    assert han.model.host_tx_us(len(payload)) > 9000  # ≈10.5 ms of UART at 115200 baud
    await han.stop()


async def test_energy_scan_through_zigpy(sim_bench):
    import zigpy.types as zigpy_t

    result = await sim_bench.energy_scan(zigpy_t.Channels.from_channel_list([11, 15, 20, 25]), 2, 3)
    assert set(result) == {11, 15, 20, 25}
    assert result[11] > result[15]  # Wi-Fi overlaps 11, the bench sits on 15


async def _read_time(app, device_id: str = "ihd") -> float:
    from zigpy.zcl.clusters.general import Basic

    basic = app.get_device(ieee=app.han.device(device_id).ieee).endpoints[1].in_clusters[Basic.cluster_id]
    loop = asyncio.get_running_loop()
    start = loop.time()
    success, _ = await basic.read_attributes(["model"], allow_cache=False)
    assert success["model"].startswith("SIM-")
    return loop.time() - start


async def test_device_processing_time_adds_to_each_request(sim_han):
    import dataclasses

    config = default_bench()
    slow = config.replace(
        devices=tuple(
            dataclasses.replace(d, sim=dataclasses.replace(d.sim, processing_ms=40.0)) if d.id == "ihd" else d
            for d in config.devices
        )
    )
    async with sim_han(config) as app:
        quick = await _read_time(app)
    async with sim_han(slow) as app:
        # four transmissions each way (request, APS ACK, response, APS ACK), each its own backoff
        assert await _read_time(app) == pytest.approx(quick + 0.040, abs=4 * BACKOFF_SPREAD_US / 1e6)


async def test_frame_loss_costs_mac_retries_on_the_channel(sim_han):
    import dataclasses

    from hal.sim.config import SimSettings

    async with sim_han(default_bench()) as app:
        clean = [await _read_time(app) for _ in range(50)]
    lossy_config = default_bench(SimSettings(frame_loss=0.3))
    async with sim_han(lossy_config) as app:
        lossy = [await _read_time(app) for _ in range(50)]
        assert dataclasses.asdict(app.han.settings)["frame_loss"] == 0.3
    # every read still gets through (MAC retries), but lost attempts cost channel time
    assert min(lossy) == pytest.approx(min(clean), abs=4 * BACKOFF_SPREAD_US / 1e6)
    assert sum(lossy) > sum(clean) * 1.2


def test_stop_and_wait_cycle_matches_the_shared_model():
    # ota-link-model.md: at 115200 baud (1 ms of host work) the cycle is ≈30 ms -> ≈2.1 kB/s
    model = LinkModel(host_link_baudrate=115200)
    assert model.shared_block_cycle_us(64, host_us=1000) / 1000 == pytest.approx(30.3, rel=0.02)
    assert model.shared_block_throughput_bps(64, host_us=1000) == pytest.approx(2100, rel=0.02)
    # at 460800 and above the UART stops mattering: the cycle is the air time again
    fast = LinkModel(host_link_baudrate=460800)
    assert fast.shared_block_cycle_us(64, host_us=1000) == pytest.approx(LinkModel().block_cycle_us(64),
                                                                         rel=0.02)
    # without a host link both accountings are the same air-time cycle (20.16 ms)
    assert LinkModel().block_cycle_us(64) == LinkModel().shared_block_cycle_us(64) == pytest.approx(20160)


def test_stop_and_wait_cycle_counts_every_host_link_frame():
    request, response = 3 + 14, 3 + 14 + 64
    air = LinkModel()
    request_hop = timing.hop_us(timing.psdu_length(request))
    ack_down = timing.hop_us(timing.aps_ack_psdu_length())  # the coordinator's APS ACK, under host work
    # bellows as shipped, with an NCP that echoes each message in messageSentHandler: at 115200 the echo
    # outlasts the device's next request on air, so the NCP's next incoming callback waits for it, and
    # the host path carries getExtendedTimeout's round trip too
    model = LinkModel(host_link_baudrate=115200, host_send=timing.HostSend.BELLOWS,
                      message_contents_in_callback=True)
    assert model.host_sent_us(response) > request_hop
    expected = (air.block_cycle_us(64) - request_hop - ack_down + model.host_sent_us(response)
                + model.host_rx_us(request) + model.host_tx_us(response))
    assert model.block_cycle_us(64) == pytest.approx(expected)
    assert model.block_cycle_us(64, host_us=1000) / 1000 == pytest.approx(38.4, rel=0.01)
    assert model.block_throughput_bps(64, host_us=1000) < 0.8 * model.shared_block_throughput_bps(64,
                                                                                                 host_us=1000)
    # a slow device hides messageSentHandler behind its own turnaround
    slow = model.block_cycle_us(64, device_us=20_000) - model.block_cycle_us(64)
    assert slow == pytest.approx(20_000 + request_hop - model.host_sent_us(response))
    # EZSPv14's wider frames cost more
    v14 = LinkModel(host_link_baudrate=115200, host_send=timing.HostSend.BELLOWS,
                    message_contents_in_callback=True, ezsp_version=14)
    assert v14.block_cycle_us(64) > model.block_cycle_us(64)
    # the lean path (tag-only messageSentHandler, no getExtendedTimeout) is the shared model's cycle
    lean = LinkModel(host_link_baudrate=115200)
    assert lean.host_sent_us(response) < request_hop
    shared = lean.shared_block_cycle_us(64, host_us=1000)
    assert lean.block_cycle_us(64, host_us=1000) == pytest.approx(shared)
    # XNCP's combined send is between the two
    xncp = LinkModel(host_link_baudrate=115200, host_send=timing.HostSend.XNCP)
    assert lean.block_cycle_us(64) < xncp.block_cycle_us(64) < LinkModel(
        host_link_baudrate=115200, host_send=timing.HostSend.BELLOWS).block_cycle_us(64)
    # at 460800 the UART nearly stops mattering again
    fast = LinkModel(host_link_baudrate=460800)
    assert fast.block_cycle_us(64, host_us=1000) == pytest.approx(air.block_cycle_us(64), rel=0.05)

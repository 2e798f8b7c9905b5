"""Each zigpy trap hanrig works around has a test that fails without the fix (``hal.zigpy_fixes``)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
import zigpy.device
from sim_testlib import image_bytes, zigpy_image
from zigpy.zcl.clusters.general import Basic

from hal import zigpy_fixes
from hal.sim.config import Direction, FaultKind, FaultSpec


def _without(monkeypatch, name: str) -> None:
    monkeypatch.delitem(zigpy_fixes.FIXES, name)
    monkeypatch.setattr(zigpy.device.Device, name, zigpy_fixes._ORIGINAL[name])


@pytest.mark.parametrize("fixed", [True, False])
async def test_se_profile_frames_reach_the_clusters(sim_han, monkeypatch, fixed):
    if not fixed:
        _without(monkeypatch, "_parse_packet_header")
    async with sim_han(wait_for_devices=False) as app:
        await asyncio.sleep(60)
        device = app.get_device(ieee=app.han.device("ihd").ieee)
        if fixed:
            assert device.model == "SIM-IHD"
        else:
            # zigpy hands 0x0109 frames to custom_profile_packet_received: the Basic read never completes
            assert device.model is None


@pytest.mark.parametrize("fixed", [True, False])
async def test_repeated_reads_beyond_the_8_bit_tsn_are_not_eaten(sim_han, monkeypatch, fixed):
    if not fixed:
        _without(monkeypatch, "_should_filter_packet")
    async with sim_han() as app:
        basic = app.get_device(ieee=app.han.device("ihd").ieee).endpoints[1].in_clusters[Basic.cluster_id]
        loop = asyncio.get_running_loop()
        start = loop.time()

        async def many_reads() -> None:
            for _ in range(300):  # > 256: zigpy's TSN wraps and replies repeat byte for byte
                success, _ = await basic.read_attributes(["model"], allow_cache=False)
                assert success == {"model": "SIM-IHD"}

        await many_reads()
        elapsed = loop.time() - start
        if fixed:
            assert elapsed < 10  # ~10 ms of air per read, no stall
        else:
            # the 257th reply repeats the 1st byte for byte: zigpy drops it, waits out its 5 s reply
            # timeout and retries until the 10 s de-duplication window has passed
            assert elapsed > 10


@pytest.mark.parametrize("fixed", [True, False])
async def test_a_resent_block_request_is_answered_at_once(sim_han, monkeypatch, fixed):
    if not fixed:
        _without(monkeypatch, "_should_filter_packet")
    async with sim_han() as app:
        ihd = app.han.device("ihd")
        device = app.get_device(ieee=ihd.ieee)
        update = asyncio.get_running_loop().create_task(
            device.update_firmware(zigpy_image(image_bytes(3000)))
        )
        while ihd.ota.outcome.blocks < 5:
            await asyncio.sleep(0.01)
        # lose one block response (zigpy sends it 3 times: all lost), so the device re-sends its
        # identical request (same TSN, same offset) after its own block timeout
        app.han.inject(
            FaultSpec(
                kind=FaultKind.DROP, device="ihd", direction=Direction.TO_DEVICE, cluster=0x0019, count=3
            )
        )
        await update
        if fixed:
            assert ihd.ota.outcome.retries == 1
        else:
            # zigpy drops the re-sent request as a duplicate for 10 s: the device has to ask again
            assert ihd.ota.outcome.retries >= 2


MALFORMED = [
    ("truncated header", "ihd", 0x0009, b"\x09"),
    ("report value of type NoData", "gsme", 0x0702, bytes.fromhex("18010a000000")),
]


@pytest.mark.parametrize("fixed", [True, False])
@pytest.mark.parametrize(
    ("what", "device_id", "cluster_id", "data"), MALFORMED, ids=[m[0] for m in MALFORMED]
)
async def test_a_malformed_frame_does_not_raise_out_of_the_radio_callback(
    sim_han, monkeypatch, caplog, fixed, what, device_id, cluster_id, data
):
    import zigpy.types as zigpy_t

    if not fixed:
        _without(monkeypatch, "packet_received")
    async with sim_han() as app:
        device = app.han.device(device_id)
        packet = zigpy_t.ZigbeePacket(
            src=zigpy_t.AddrModeAddress(addr_mode=zigpy_t.AddrMode.NWK, address=device.nwk),
            src_ep=1,
            dst=zigpy_t.AddrModeAddress(addr_mode=zigpy_t.AddrMode.NWK, address=0x0000),
            dst_ep=1,
            profile_id=0x0109,
            cluster_id=cluster_id,
            data=zigpy_t.SerializableBytes(data),
        )
        if fixed:
            app.packet_received(packet)
            assert "dropped a malformed frame" in caplog.text
            assert (
                await app.get_device(ieee=device.ieee)
                .endpoints[1]
                .in_clusters[0x0000]
                .read_attributes(["model"], allow_cache=False)
            )  # the device still works afterwards
        else:
            with pytest.raises((ValueError, TypeError)):
                app.packet_received(packet)


@pytest.mark.parametrize("fixed", [True, False])
async def test_the_hub_time_server_answers_on_the_radio_clock(sim_han, monkeypatch, fixed):
    from zigpy.zcl import Cluster
    from zigpy.zcl.clusters.general import Time

    from hal.simcontrol import sim_control

    if not fixed:
        monkeypatch.delitem(zigpy_fixes.REGISTERED, Time.cluster_id)
        monkeypatch.setitem(Cluster._registry, Time.cluster_id, Time)
    async with sim_han() as app:
        await asyncio.sleep(300)  # every synchronised device has read the hub's Time server by now
        control = sim_control(app)
        pan_now = control.utc_now().timestamp()
        # the GSME's clock is ZCL UTCTime (seconds since 2000-01-01)
        gsme = control.device_clock("00:0d:6f:00:0a:bc:00:02") + 946684800
        if fixed:
            assert abs(gsme - pan_now) < 60  # set from the PAN's (virtual) clock (within its drift)
        else:
            # zigpy's Time answers with the wall clock: months away from the bench's 2026-01-01 start
            assert abs(gsme - pan_now) > 86400


def test_an_unsupported_zigpy_fails_at_startup_naming_the_fixes(monkeypatch):
    from hal.exceptions import UnsupportedZigpy

    monkeypatch.delenv(zigpy_fixes.UNCHECKED_ENV, raising=False)
    zigpy_fixes.check_zigpy("2.4.3")  # inside the range: quiet
    with pytest.raises(UnsupportedZigpy) as raised:
        zigpy_fixes.check_zigpy("3.0.0")
    message = str(raised.value)
    assert "zigpy 3.0.0 is outside 2.4.0 <= zigpy < 2.5.0" in message
    assert all(name in message for name in zigpy_fixes.FIX_NAMES)
    # a fix whose zigpy code is gone is named with the upstream change that retired it
    gone = zigpy_fixes.Fix("se_profile_zcl", "zigpy.device:Device._parse_packet_header_renamed", "PR 1234")
    monkeypatch.setattr(zigpy_fixes, "FIX_NOTES", (gone,))
    with pytest.raises(UnsupportedZigpy, match=r"fix se_profile_zcl no longer applies: .*_renamed is gone "
                                               r"\(upstream: PR 1234\)"):
        zigpy_fixes.check_zigpy("2.5.0")
    monkeypatch.setenv(zigpy_fixes.UNCHECKED_ENV, "1")
    zigpy_fixes.check_zigpy("2.5.0")  # on purpose: a warning only


def test_every_fix_names_present_zigpy_code_and_its_upstream_change():
    for fix in zigpy_fixes.FIX_NOTES:
        assert fix.target_present(), f"{fix.name}: {fix.target} is not in the installed zigpy"
        assert fix.upstream


async def test_a_claim_takes_frames_before_zigpy_and_can_hand_them_back(sim_han):
    import zigpy.types as zigpy_t

    async with sim_han() as app:
        basic = app.get_device(ieee=app.han.device("ihd").ieee).endpoints[1].in_clusters[Basic.cluster_id]
        seen: list[int] = []

        def claim(packet: zigpy_t.ZigbeePacket) -> bool:
            seen.append(packet.cluster_id)
            if packet.cluster_id == Basic.cluster_id:
                zigpy_fixes.deliver_to_zigpy(app, packet)  # take it, then hand it back
                return True
            return False

        remove = zigpy_fixes.claim_packets(app, claim)
        success, _ = await basic.read_attributes(["model"], allow_cache=False)
        assert success == {"model": "SIM-IHD"} and Basic.cluster_id in seen
        # a claim registered with first=True sees the frame before the ones already there, and takes it
        order: list[bool] = []  # per Basic frame: had the older claim seen it already?

        def ahead(packet: zigpy_t.ZigbeePacket) -> bool:
            if packet.cluster_id == Basic.cluster_id:
                order.append(Basic.cluster_id in seen)
            return False

        remove_ahead = zigpy_fixes.claim_packets(app, ahead, first=True)
        seen.clear()
        await basic.read_attributes(["model"], allow_cache=False)
        assert order == [False] and Basic.cluster_id in seen
        remove_ahead()
        remove()
        seen.clear()
        await basic.read_attributes(["model"], allow_cache=False)
        assert seen == []


def test_fix6_an_orphaned_task_killed_by_a_closed_connection_is_no_traceback(caplog):
    import asyncio
    import gc
    import logging

    from bellows.ash import NcpFailure

    import hal

    async def pending_frame(text: str) -> None:
        if text.startswith("Transport"):  # bellows' fragment-ACK task writing after the close
            raise NcpFailure(text)
        raise RuntimeError(text)

    loop = hal.new_event_loop("ezsp:///dev/ttyUSB0")  # a real radio's loop
    try:
        with caplog.at_level(logging.DEBUG):
            for text in ("Connection has been closed", "Transport is closed, cannot send frame",
                         "something else broke"):
                loop.run_until_complete(asyncio.sleep(0))
                task = loop.create_task(pending_frame(text))
                loop.run_until_complete(asyncio.sleep(0.01))
                del task
                gc.collect()
    finally:
        loop.close()
    # Only this test's tasks (gc.collect() may also report tasks earlier tests left pending). The message,
    # not exc_info: an in-process CLI run earlier in the session may have put its no-traceback filter on
    # the capturing handler, which folds the exception into the message.
    errors = [r.getMessage() for r in caplog.records
              if r.name == "asyncio" and r.levelno >= logging.ERROR and "pending_frame" in r.getMessage()]
    assert len(errors) == 1 and "something else broke" in errors[0]  # only the other one
    assert sum("radio connection closed under a pending frame" in r.getMessage() for r in caplog.records) == 2


def _python(code: str, *args: str, cwd: Path | None = None) -> str:
    """Run ``code`` in a fresh interpreter (this one has long imported zigpy) and return its stdout."""
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120,
                          cwd=cwd, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


REMOTE_MODULES = ("zigpy.ota.providers", "aiohttp", "jsonschema")
_REPORT_MODULES = ("import atexit, sys\n"  # prints which of REMOTE_MODULES the program loaded, at its exit
                   f"atexit.register(lambda: print('LOADED', [name for name in {REMOTE_MODULES!r} if name in "
                   "sys.modules and type(sys.modules[name]).__name__ != '_LazyModule']))\n")


def test_fix11_the_main_job_never_loads_zigpys_remote_ota_providers(tmp_path):
    """Without either part of fix 11 the main job loads zigpy.ota.providers, aiohttp and jsonschema (the
    module through ``import zigpy.ota``, or through zigpy validating its default provider list)."""
    out = _python(_REPORT_MODULES + "from gateway.cli import main\nmain()", "rig", "run", "--results",
                  str(tmp_path / "results"), cwd=tmp_path)
    assert "PASS" in out and "LOADED []" in out


def test_fix11_zigpys_providers_still_load_and_work_when_asked():
    """A zigpy OTA config naming a provider loads the module (aiohttp, jsonschema, its TLS contexts) then;
    the provider fetches and validates an index over HTTP as zigpy's own would."""
    out = _python(_REPORT_MODULES + """
import asyncio, http.server, json, ssl, threading
import hal  # the CLI, the pytest plugin and library users import hal (through gateway or rigs) first
import zigpy.config
import zigpy.ota
from hal import zigpy_fixes
print("lazy", type(sys.modules["zigpy.ota.providers"]).__name__, "aiohttp" in sys.modules)
zigpy.config.SCHEMA_OTA(zigpy_fixes.zigpy_ota_disabled())  # hanrig's own config asks for nothing
print("after hanrig's config", "aiohttp" in sys.modules)
indexes = [b'{"firmwares": []}', b'{"firmwares": "not a list"}']

class Index(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = indexes.pop(0)
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

server = http.server.HTTPServer(("127.0.0.1", 0), Index)
threading.Thread(target=server.serve_forever, daemon=True).start()
url = f"http://127.0.0.1:{server.server_port}/index.json"
config = zigpy.config.SCHEMA_OTA({"extra_providers": [{"type": "zigpy_remote", "url": url}]})
provider = config["extra_providers"][0]
providers = sys.modules["zigpy.ota.providers"]
print("provider", type(provider).__name__, isinstance(provider, providers.RemoteZigpyProvider),
      isinstance(providers.Tradfri.SSL_CTX, ssl.SSLContext))
print("index", asyncio.run(provider.load_index()))
again = zigpy.config.SCHEMA_OTA({"extra_providers": [{"type": "zigpy_remote", "url": url}]})
try:
    asyncio.run(again["extra_providers"][0].load_index())
except Exception as exc:
    print("refused", type(exc).__module__.split(".")[0], type(exc).__name__)
server.shutdown()
""")
    assert "lazy _LazyModule False" in out
    assert "after hanrig's config False" in out
    assert "provider RemoteZigpyProvider True True" in out
    assert "index []" in out  # fetched with aiohttp
    assert "refused jsonschema ValidationError" in out  # validated with jsonschema
    assert "LOADED ['zigpy.ota.providers', 'aiohttp', 'jsonschema']" in out

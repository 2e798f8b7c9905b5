"""The capture of the main job, judged by a decoder nobody here wrote: tshark (Wireshark's dissectors).

``hanrig rig run --capture FILE`` on the built-in bench, then tshark decodes FILE with the network key
and, per frame, must find no malformed packet and no warning, a good FCS, the NWK frame decrypted, the
APS cluster and profile and the ZCL command hanrig meant (the simulated PAN's record of the frame, as
hanrig built it), and OTA block requests/responses whose offsets and sizes match the OTA progress
hanrig logged in the results store. This catches encodings hanrig's host and simulator agree on but
the standard does not. Skipped (with the reason) when tshark is not installed (``.ci/run`` installs it).
"""

from __future__ import annotations

import collections
import dataclasses
import json
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from zigpy.zcl import foundation

from gateway.cli import main
from hal import capture
from hal.gbhrgp import message_length
from hal.sim.wire import APS_ACK
from rigs.store import open_store

TSHARK = shutil.which("tshark")
pytestmark = pytest.mark.skipif(TSHARK is None, reason="tshark is not installed (Debian package tshark)")

SIM_NETWORK_KEY = b"hanrig-sim-nwk-k".hex()  # the bench's network key (hal.sim.han.NetworkParams)
OTA_CLUSTER = 0x0019
WARNING = 0x00600000  # Wireshark's PI_WARN expert severity


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """json object hook keeping repeated keys (tshark repeats e.g. wpan.addr16) as lists."""
    merged: dict[str, Any] = {}
    for key, value in pairs:
        merged.setdefault(key, []).append(value)
    return {k: v[0] if len(v) == 1 else v for k, v in merged.items()}


def _fields(tree: Any, out: dict[str, list[str]]) -> dict[str, list[str]]:
    """Every field name -> its values, anywhere in one packet's layer tree."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            if isinstance(value, str):
                out.setdefault(key, []).append(value)
            elif isinstance(value, list) and all(isinstance(v, str) for v in value):
                out.setdefault(key, []).extend(value)
            else:
                _fields(value, out)
    elif isinstance(tree, list):
        for item in tree:
            _fields(item, out)
    return out


def _decode(path: Path, link_keys: Iterable[bytes] = ()) -> list[dict[str, list[str]]]:
    """tshark's decoding with the network key and the devices' CBKE link keys (APS-secured SE frames)."""
    keys = [SIM_NETWORK_KEY, *(bytes(k).hex() for k in link_keys)]
    options = [o for i, key in enumerate(keys) for o in ("-o", f'uat:zigbee_pc_keys:"{key}","Normal","k{i}"')]
    done = subprocess.run([TSHARK, "-r", str(path), *options, "-T", "json"], capture_output=True,
                          text=True, timeout=300, check=True)
    packets = json.loads(done.stdout, object_pairs_hook=_pairs)
    return [_fields(p["_source"]["layers"], {}) for p in packets]


def _one(fields: dict[str, list[str]], name: str) -> int:
    [value] = fields[name]
    return int(value, 0)


def _zcl_command(fields: dict[str, list[str]]) -> int:
    """The ZCL command id tshark decoded: profile-wide ``zbee_zcl.cmd.id``, else the cluster's own field
    (``zbee_zcl_<group>.<cluster>.cmd.srv_rx.id`` / ``srv_tx.id``)."""
    ids = [v for k, values in fields.items() for v in values
           if k == "zbee_zcl.cmd.id"
           or (k.startswith("zbee_zcl_") and k.endswith((".srv_rx.id", ".srv_tx.id")))]
    assert len(ids) == 1, ids
    return int(ids[0], 0)


TUNNELING = 0x0704


def _gbcs_in_tunnel(fields: dict[str, list[str]], record: Any, message: bytes | None) -> bool:
    """A Tunneling Transfer Data frame whose payload tshark dissects as a GBCS message (GB-HRGP)."""
    if record.cluster != TUNNELING or message is None or record.outcome == APS_ACK:
        return False
    header, _ = foundation.ZCLHeader.deserialize(message)
    return header.frame_control.is_cluster and header.command_id in (0x01, 0x02) and any(
        name in "".join(fields.get("frame.protocols", [])) for name in ("gbcs", "ber"))


def _messages(meant: list[Any]) -> list[bytes | None]:
    """Per captured frame, the APS payload a decoder has once it has read that frame: the frame's own for
    an unfragmented frame; for an APS fragment, the reassembled message on the frame that brings the
    transfer's last missing block (tshark reassembles there), None on the others."""
    blocks: dict[int, dict[int, bytes]] = collections.defaultdict(dict)
    done: set[int] = set()
    out: list[bytes | None] = []
    for record in meant:
        if not record.fragment:
            out.append(record.data)
            continue
        parts = blocks[record.transfer]
        parts.setdefault(record.block, record.data)
        if len(parts) == record.blocks and record.transfer not in done:
            done.add(record.transfer)
            out.append(b"".join(parts[i] for i in range(record.blocks)))
        else:
            out.append(None)
    return out


@dataclasses.dataclass
class MainJob:
    path: Path  # the run's directory (results/ inside)
    meant: list[Any]  # the simulated PAN's record of each frame it put on the air, in capture order
    packets: list[dict[str, list[str]]]  # tshark's decoding of each captured frame

    @property
    def messages(self) -> list[bytes | None]:
        return _messages(self.meant)


@pytest.fixture(scope="module")
def main_job(tmp_path_factory: pytest.TempPathFactory) -> MainJob:
    """``hanrig rig run --capture`` on the built-in bench, once for this module, decoded by tshark."""
    tmp_path = tmp_path_factory.mktemp("main-job")
    meant: list[Any] = []
    link_keys: set[bytes] = set()  # every CBKE link key a device held while frames went on the air
    original = capture.AirCapture.__call__
    pcap = tmp_path / "main.pcapng"

    def record_and_capture(self: capture.AirCapture, record: Any, packet: Any) -> None:
        if record.outcome != "queued-expired" and self.writer.path == pcap:  # not the per-step captures
            meant.append(record)
            key = self._link_key(record, packet)
            if key is not None:
                link_keys.add(key)
        original(self, record, packet)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(capture.AirCapture, "__call__", record_and_capture)
        patch.chdir(tmp_path)
        with pytest.raises(SystemExit) as done:
            main(["rig", "run", "--capture", str(pcap), "--results", str(tmp_path / "results")])
    assert done.value.code == 0
    assert link_keys, "no APS-secured frame: the Type 1 devices did not key themselves (CBKE)"
    return MainJob(tmp_path, meant, _decode(pcap, link_keys))


def test_the_main_job_capture_decodes_as_hanrig_meant(main_job: MainJob) -> None:
    tmp_path, meant, packets = main_job.path, main_job.meant, main_job.packets
    assert len(packets) == len(meant) > 1000
    # device nwk -> its transfers, each a list of (offset, size); a block served at offset 0 starts a transfer
    # (the ESME takes two images on the default bench: hold, CS06, hold, future-dated CS06)
    transfers: dict[int, list[list[tuple[int, int]]]] = collections.defaultdict(list)
    nwk_to_eui: dict[int, str] = {}
    counters: dict[int, int] = {}  # fragmented transfer -> the APS counter all its blocks carry
    last_unicast: dict[tuple[int, int], int] = {}  # (src, dst) -> APS counter of its last unicast
    fragmented = acks = 0
    for number, (fields, record, message) in enumerate(zip(packets, meant, main_job.messages, strict=True),
                                                       start=1):
        where = f"frame {number} ({record})"
        assert "_ws.malformed" not in fields, where
        assert all(int(s, 0) < WARNING for s in fields.get("_ws.expert.severity", [])), where
        assert fields["wpan.fcs_ok"] == ["1"], where
        # decrypted with the network key: the APS header is readable and is what hanrig sent
        assert (_one(fields, "zbee_nwk.src"), _one(fields, "zbee_nwk.dst")) == (record.src, record.dst), where
        assert _one(fields, "zbee_aps.profile") == record.profile, where
        if record.outcome == APS_ACK:  # the receiver's APS ACK: the counter of the frame it acknowledges
            assert _one(fields, "zbee_aps.type") == 2, where
            assert _one(fields, "zbee_aps.counter") == last_unicast[(record.dst, record.src)], where
            acks += 1
            continue
        if record.dst not in (0xFFFF, 0xFFFD, 0xFFFC):
            assert _one(fields, "zbee_aps.ack_req") == 1, where
            last_unicast[(record.src, record.dst)] = _one(fields, "zbee_aps.counter")
        if record.profile == 0x0000:  # ZDO: tshark names the ZDP command by its cluster
            assert _one(fields, "zbee_aps.zdp_cluster") == record.cluster, where
            continue
        assert _one(fields, "zbee_aps.cluster") == record.cluster, where
        if record.fragment:  # APS fragmentation: the extended header as Wireshark reads it
            first = record.block == 0
            assert _one(fields, "zbee_aps.fragmentation") == (1 if first else 2), where
            assert _one(fields, "zbee_aps.block") == (record.blocks if first else record.block), where
            counter = counters.setdefault(record.transfer, _one(fields, "zbee_aps.counter"))
            assert _one(fields, "zbee_aps.counter") == counter, where
            if message is None:  # tshark holds the block until the transfer is complete
                assert not any(k.startswith("zbee_zcl") for k in fields), where
                continue
            assert _one(fields, "zbee_aps.reassembled.length") == len(message), where
            fragmented += 1
        assert message is not None
        header, _ = foundation.ZCLHeader.deserialize(message)
        assert _zcl_command(fields) == header.command_id, where
        assert _one(fields, "zbee_zcl.type") == int(header.frame_control.frame_type), where
        assert _one(fields, "zbee_zcl.cmd.tsn") == header.tsn, where
        ota = record.cluster == OTA_CLUSTER and header.frame_control.is_cluster
        if ota and record.outcome == "delivered":
            if header.command_id == 0x05 and record.src == 0x0000:  # Image Block Response from the hub
                status = _one(fields, "zbee_zcl_general.ota.status")
                if status == 0:
                    offset = _one(fields, "zbee_zcl_general.ota.file.offset")
                    if offset == 0 or not transfers[record.dst]:
                        transfers[record.dst].append([])
                    transfers[record.dst][-1].append((offset, _one(fields, "zbee_zcl_general.ota.data_size")))
            if header.command_id == 0x03:  # Image Block Request: the offset asked is where the device is
                asked = _one(fields, "zbee_zcl_general.ota.file.offset")
                served = transfers[record.src][-1] if transfers[record.src] else []
                # a new transfer starts at 0; otherwise the next block, or one served again (a lost response)
                assert asked in (0, sum(size for _, size in served)) or any(
                    offset == asked for offset, _ in served), where
        if "zbee.sec.src64" in fields and record.src != 0x0000:
            nwk_to_eui[record.src] = fields["zbee.sec.src64"][0]

    # the OTA progress hanrig logged (results store) is exactly what the air carried, block by block
    store = open_store(str(tmp_path / "results"))
    try:
        [run] = store.list_runs()
        record_run = store.load_run(run.run_id)
    finally:
        store.close()
    checked = 0
    for dut in record_run.duts:
        logged = [int(e.data["offset"]) for e in dut.events if str(e.kind) == "ota_progress"]
        if not logged:
            continue
        nwk = next(n for n, eui in nwk_to_eui.items() if eui == dut.eui64)
        on_air = [offset + size for transfer in transfers[nwk] for offset, size in transfer]
        assert logged == on_air, dut.id
        for transfer in transfers[nwk]:  # contiguous blocks within each transfer
            ends = [offset + size for offset, size in transfer]
            assert [offset for offset, _ in transfer] == [0, *ends[:-1]], dut.id
        checked += 1
    assert checked == 4  # IHD, PPMID, HCALCS and the ESME (its CS06 images) take images on the default bench
    assert acks > len(meant) // 3  # most frames are unicasts, each acknowledged
    assert fragmented >= 4  # the CS06, CS02a and CS02c exchanges carry messages longer than one frame
    # every step's own capture of its device is attached to the run, and tshark reads it too
    ihd = next(d for d in record_run.duts if d.id == "ihd")
    ota_step = next(s for s in ihd.final_steps() if s.name == "ota")
    [attachment] = [a for a in ota_step.attachments if a.name == "capture.pcapng"]
    step_pcap = tmp_path / "ihd-ota.pcapng"
    step_pcap.write_bytes(attachment.read())
    step_packets = _decode(step_pcap)
    ihd_nwk = next(n for n, eui in nwk_to_eui.items() if eui == ihd.eui64)
    # every block request and response, and more
    assert len(step_packets) > 2 * sum(len(t) for t in transfers[ihd_nwk])
    assert all(ihd_nwk in (_one(f, "zbee_nwk.src"), _one(f, "zbee_nwk.dst")) for f in step_packets)
    assert all("_ws.malformed" not in f for f in step_packets)


def test_gbcs_messages_in_the_tunnel_decode_whole(main_job: MainJob) -> None:
    """GB-HRGP (GBCS 10.2.2): each GBCS message is one Transfer Data, carried in APS fragments when it is
    longer than a frame; tshark reassembles the fragments (``zbee_aps`` reassembles unconditionally in
    tshark 4.0: it has no preference for it) and dissects every message whole, none malformed."""
    gbcs = [(number, fields, message) for number, (fields, record, message)
            in enumerate(zip(main_job.packets, main_job.meant, main_job.messages), start=1)
            if _gbcs_in_tunnel(fields, record, message)]
    assert gbcs  # the certs step reads the ESME's credentials over the GB-HRGP tunnel
    malformed = [number for number, fields, _ in gbcs if "_ws.malformed" in fields]
    assert malformed == [], f"tshark: GBCS messages malformed in frames {malformed}"
    reassembled = [fields for _, fields, _ in gbcs if "zbee_aps.reassembled.length" in fields]
    assert len(reassembled) >= 4  # CS06, CS02a and CS02c messages span several fragments
    for number, _, message in gbcs:  # one Transfer Data: ZCL header, tunnel id, then one whole GBCS message
        carried = message[3 + 2:]
        if carried[:1] in (b"\x01", b"\x02", b"\x03"):  # the GSME's tunnel: GET / GET-RESPONSE n / PUT first
            carried = {1: b"", 2: carried[2:], 3: carried[1:]}[carried[0]]
            if not carried:
                continue
        assert message_length(carried) == len(carried), number


KEY_ESTABLISHMENT = 0x0800


def test_key_establishment_frames_decode_as_hanrig_meant(main_job: MainJob) -> None:
    """CBKE (issue 13): Wireshark's Key Establishment dissector reads each Initiate's suite, generate
    times and implicit certificate fields (subject = the sender), the ephemeral keys and the MACs at the
    sizes suite 2 gives them, in both directions."""
    seen: collections.Counter[tuple[int, int]] = collections.Counter()
    for fields, record in zip(main_job.packets, main_job.meant, strict=True):
        if record.cluster != KEY_ESTABLISHMENT or record.outcome != "delivered":
            continue
        header, payload = foundation.ZCLHeader.deserialize(record.data)
        to_client = header.direction == foundation.Direction.Server_to_Client
        seen[(header.command_id, to_client)] += 1

        def octets(name: str, fields: dict[str, list[str]] = fields) -> bytes:
            [value] = fields[name]
            return bytes.fromhex(value.replace(":", ""))

        if header.command_id == 0x00:  # Initiate Key Establishment (request or response)
            assert _one(fields, "zbee_zcl_se.ke.attr.suite") == 0x0002
            assert _one(fields, "zbee_zcl_se.ke.init.ephemeral.time") == payload[2]
            assert octets("zbee_zcl_se.ke.cert.subject") == payload[4 + 28:4 + 36]
            assert octets("zbee_zcl_se.ke.cert.issuer") == b"TESTONLY"
            assert len(octets("zbee_zcl_se.ke.cert.reconst")) == 37
        elif header.command_id == 0x01:
            name = "zbee_zcl_se.ke.qev" if to_client else "zbee_zcl_se.ke.qeu"
            assert octets(name) == payload and len(payload) == 37
        elif header.command_id == 0x02:
            name = "zbee_zcl_se.ke.macv" if to_client else "zbee_zcl_se.ke.macu"
            assert octets(name) == payload and len(payload) == 16
    # the four Type 1 devices each ran the whole exchange
    for command in (0x00, 0x01, 0x02):
        assert seen[(command, False)] >= 4 and seen[(command, True)] >= 4, seen


def test_cbke_secured_frames_decode_only_with_the_device_link_key(tmp_path: Path) -> None:
    """A Metering read to the keyed ESME and its answer go on the air APS-secured (issue 13): tshark sees
    the APS security header (link key, frame counter, MIC) and, with the network key alone, an encrypted
    payload; given the link key CBKE established (the hub's copy), it authenticates and decrypts them to
    the Read Attributes and its response."""
    import zigpy.types as zigpy_t

    import hal
    from gateway.session import Gateway

    esme_eui = "00:0d:6f:00:0a:bc:00:01"
    pcap = tmp_path / "keyed.pcapng"
    found: dict[str, Any] = {}

    async def scenario() -> None:
        async with Gateway.open(["sim://"]) as gw:
            result = await gw.cbke.wait_for_result(esme_eui, 120)
            assert result is not None and result.outcome == "established"
            app = next(iter(gw.apps.values()))
            writer = capture.PcapngWriter(pcap)
            sink = capture.AirCapture(app.han, writer)
            app.han.add_frame_sink(sink)
            esme = app.get_device(ieee=zigpy_t.EUI64.convert(esme_eui))
            metering = next(ep for i, ep in esme.endpoints.items() if i and 0x0702 in ep.in_clusters
                            ).in_clusters[0x0702]
            await metering.read_attributes([0x0000], allow_cache=False)
            app.han.remove_frame_sink(sink)
            writer.close()
            found.update(key=gw.cbke.link_key(esme_eui), nwk=esme.nwk)

    hal.run(scenario, "sim://")

    def metering(packets: list[dict[str, list[str]]]) -> list[dict[str, list[str]]]:
        # the data frames (their APS ACKs, type 2, carry the cluster too)
        return [p for p in packets
                if p.get("zbee_aps.cluster") == ["0x0702"] and p["zbee_aps.type"] == ["0x00"]]

    hidden, shown = metering(_decode(pcap)), metering(_decode(pcap, [found["key"]]))
    assert len(hidden) == len(shown) == 2
    for fields in hidden:
        assert _one(fields, "zbee_aps.security") == 1
        # two security headers: the NWK's (network key, id 1) and the APS's (link key, id 0)
        assert [int(v, 0) for v in fields["zbee.sec.key_id"]] == [1, 0]
        assert not any(k.startswith("zbee_zcl") for k in fields)
    for fields in shown:
        assert "_ws.malformed" not in fields
        assert _one(fields, "zbee_aps.security") == 1
        # tshark names the key by its label: k0 (the network key) for the NWK, k1 (the link key) for the APS
        assert fields["zbee.sec.decryption_key"] == ["k0", "k1"]
    assert [_zcl_command(f) for f in shown] == [0x00, 0x01]   # Read Attributes, Read Attributes Response
    assert {_one(f, "zbee_nwk.src") for f in shown} == {0x0000, found["nwk"]}

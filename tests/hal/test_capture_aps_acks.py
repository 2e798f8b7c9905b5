"""APS acknowledgements in the sim:// air capture, judged by tshark: each acknowledged unicast is followed
by its receiver's APS ACK (frame type 2) with the same APS counter, the data frame's cluster and profile
and its endpoints swapped; a window of GBCS fragments gets an ACK with the extended header (block number,
bitfield). The captured lengths are the ones the air model charged. The seeded trace leaves ACKs out."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from gateway.bench import bench_credentials
from gateway.certs_service import CS02C
from gateway.session import Gateway
from gbcs.content import cs02c_command_content
from hal.capture import AirCapture, PcapngWriter, read_pcapng_frames
from hal.sim.config import default_bench
from hal.sim.wire import APS_ACK
from ota.link_model import aps_ack_psdu_length, fragment_ack_psdu_length

TSHARK = shutil.which("tshark")
ESME = "00:0d:6f:00:0a:bc:00:01"
NETWORK_KEY = b"hanrig-sim-nwk-k".hex()
FIELDS = ("zbee_nwk.src", "zbee_nwk.dst", "zbee_aps.type", "zbee_aps.ack_req", "zbee_aps.counter",
          "zbee_aps.cluster", "zbee_aps.profile", "zbee_aps.src", "zbee_aps.dst", "zbee_aps.fragmentation",
          "zbee_aps.block", "zbee_aps.block_acks", "_ws.malformed", "_ws.expert.severity")
WARNING = 0x00600000  # Wireshark's PI_WARN expert severity


def _tshark(path: Path) -> list[dict[str, str]]:
    options = [o for field in FIELDS for o in ("-e", field)]
    done = subprocess.run([TSHARK, "-r", str(path), "-o", f'uat:zigbee_pc_keys:"{NETWORK_KEY}","Normal",""',
                           "-T", "fields", "-E", "separator=/t", "-E", "occurrence=a", *options],
                          capture_output=True, text=True, timeout=120, check=True)
    return [dict(zip(FIELDS, line.split("\t"), strict=True)) for line in done.stdout.splitlines()]


@pytest.mark.skipif(TSHARK is None, reason="tshark is not installed (Debian package tshark)")
async def test_every_acknowledged_unicast_has_its_aps_ack_in_the_capture(sim_han, tmp_path) -> None:
    config, _ = bench_credentials(default_bench())
    pcap = tmp_path / "acks.pcapng"
    async with sim_han(config) as app:
        han = app.han
        gw = Gateway({"sim": app})
        esme = gw.device(ESME)
        writer = PcapngWriter(pcap)
        records: list = []
        han.add_frame_sink(AirCapture(han, writer))
        han.add_frame_sink(lambda record, packet: records.append(record))  # what the capture was given
        mark = han.trace.total
        await gw.gbcs.open_tunnel(esme)
        command = gw.gbcs.build_command(esme, CS02C, cs02c_command_content("DS"), originator=gw.gbcs.supplier,
                                        signed=True)
        done = await gw.gbcs.exchange(esme, command)  # longer than one frame both ways: APS fragments
        traced = han.trace.since(mark)
        writer.close()
    assert done.security.signature.value == "valid"
    # the seeded trace holds the data frames only; the capture has their ACKs too
    assert traced == [r for r in records if r.outcome != APS_ACK]
    packets, psdus = _tshark(pcap), read_pcapng_frames(pcap)
    assert len(packets) == len(psdus) == len(records)
    data_frames = fragment_acks = 0
    for number, (fields, record) in enumerate(zip(packets, records, strict=True), start=1):
        where = f"frame {number} ({record})"
        assert not fields["_ws.malformed"], where
        assert all(int(s, 0) < WARNING for s in fields["_ws.expert.severity"].split(",") if s), where
        assert (int(fields["zbee_nwk.src"], 0), int(fields["zbee_nwk.dst"], 0)) == (record.src, record.dst)
        if record.outcome == APS_ACK:
            continue
        data_frames += 1
        assert int(fields["zbee_aps.type"], 0) == 0 and fields["zbee_aps.ack_req"] == "1", where
        # the next frame between these two nodes is the receiver's ACK of this one, with its counter
        ack_number = next(i for i in range(number, len(records))
                          if {records[i].src, records[i].dst} == {record.src, record.dst})
        ack, ack_psdu = packets[ack_number], psdus[ack_number]
        assert records[ack_number].outcome == APS_ACK, where
        assert int(ack["zbee_aps.type"], 0) == 2, where  # tshark: "APS: Ack"
        assert (int(ack["zbee_nwk.src"], 0), int(ack["zbee_nwk.dst"], 0)) == (record.dst, record.src), where
        assert ack["zbee_aps.counter"] == fields["zbee_aps.counter"], where
        assert (ack["zbee_aps.cluster"], ack["zbee_aps.profile"]) == (fields["zbee_aps.cluster"],
                                                                      fields["zbee_aps.profile"]), where
        assert (ack["zbee_aps.src"], ack["zbee_aps.dst"]) == (fields["zbee_aps.dst"], fields["zbee_aps.src"])
        if record.fragment:  # window of one block: the ACK names the block, all of it received
            assert ack["zbee_aps.fragmentation"] == ("0x01" if record.block == 0 else "0x02"), where
            assert int(ack["zbee_aps.block"]) == record.block and ack["zbee_aps.block_acks"] == "0xff"
            assert len(ack_psdu) == fragment_ack_psdu_length(), where  # as long as the air model charged
            fragment_acks += 1
        else:
            assert not ack["zbee_aps.fragmentation"] and len(ack_psdu) == aps_ack_psdu_length(), where
    assert data_frames * 2 == len(records)  # every frame a unicast, each acknowledged
    assert fragment_acks >= 5  # the CS02c and its response span several fragments each

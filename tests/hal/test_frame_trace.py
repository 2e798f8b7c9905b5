"""hal.sim.trace.FrameTrace: data frames reach every sink (a device's sink only its own frames); APS ACKs,
which the trace leaves out, reach only the air sinks (an air capture), not a rig step's device capture."""

from __future__ import annotations

from types import SimpleNamespace

from hal.sim.trace import FrameTrace
from hal.sim.wire import APS_ACK, TraceRecord


def _record(src: int, dst: int, outcome: str = "delivered") -> TraceRecord:
    return TraceRecord(time=0.0, src=src, dst=dst, profile=0x0109, cluster=0x0019, length=0, data=b"",
                       outcome=outcome)


def test_acks_reach_the_air_sinks_only_and_data_frames_every_sink():
    trace = FrameTrace()
    air: list[TraceRecord] = []
    device: list[TraceRecord] = []
    assert not trace.has_air_sinks
    trace.subscribe(lambda record, packet: device.append(record), SimpleNamespace(nwk=0x1234))
    assert not trace.has_air_sinks  # a device's sink is not an air capture
    trace.subscribe(lambda record, packet: air.append(record))
    assert trace.has_air_sinks
    to_device, elsewhere = _record(0x0000, 0x1234), _record(0x0000, 0x5678)
    ack = _record(0x1234, 0x0000, APS_ACK)
    trace.append(to_device)
    trace.append(elsewhere)
    trace.announce(ack)
    assert air == [to_device, elsewhere, ack]
    assert device == [to_device]
    assert list(trace) == [to_device, elsewhere] and trace.total == 2

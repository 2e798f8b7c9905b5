"""Helpers shared by the rigs tests: a realistic run on the default bench, report checks, a store writer."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

from rigs.records import (
    DutRecord,
    Equals,
    Event,
    EventKind,
    InRange,
    MeasurementSpec,
    OneOf,
    OutcomeDetail,
    RunRecord,
    StepOutcome,
    StepRecord,
)
from rigs.rigfile import Rig
from rigs.store import open_store

JUNIT_XSD = Path(__file__).parent / "data" / "junit-10.xsd"

T0 = 1_790_000_000.0
STEP_TIME = MeasurementSpec("t", "s", InRange(0, 10))

OTA_RATE = MeasurementSpec("ota_throughput", "B/s", InRange(low=500, marginal_low=800), "mean block rate")
OTA_VERSION = MeasurementSpec("firmware_version_after", "", Equals(0x00020000))
JOIN_TIME = MeasurementSpec("join_time", "s", InRange(0, 30))
GAS_STATUS = MeasurementSpec("clock_status", "", OneOf(("reliable",)))
CERT_CHAIN = MeasurementSpec("chain_valid", "", Equals(True), "SMKI chain to the root")
CERT_NO = MeasurementSpec("network_operator_entity_id", "", Equals("90:b3:d5:1f:30:01:00:02"), "SECMP0063")


def build_run(rig: Rig, *, fail_ota_on: str | None = None, error_on: str | None = None,
              stop_after: int | None = None) -> RunRecord:
    """Every planned step of ``rig`` with measurements and events, deterministic times.

    ``fail_ota_on`` makes that DUT's OTA too slow (FAIL), ``error_on`` makes that DUT's first step a
    rig ERROR, ``stop_after`` leaves the run unfinished after that many steps.
    """
    run = RunRecord.new(rig, operator="tester", run_id="20260921T141320-00c0ffee", start=T0)
    run.radio_firmware = {"sim": "hanrig-sim 1"}
    t = T0
    done = 0
    for step_spec in rig.plan:
        for device in rig.devices_for(step_spec):
            if stop_after is not None and done >= stop_after:
                return run
            dut = run.dut(device.id)
            step = StepRecord(step_spec.name, step_spec.index, device.id, start=t)
            outcome: StepOutcome | None = None
            if step_spec.name == "join":
                step.measure(JOIN_TIME, 4.5)
                dut.events.append(Event(t + 1, EventKind.JOIN, {"nwk": "0x1234"}, device.id))
                if error_on == device.id:
                    outcome = StepOutcome.ERROR
                    step.details.append(OutcomeDetail("radio-lost", "the sim radio stopped answering"))
            elif step_spec.name == "inventory":
                dut.manufacturer, dut.model = "hanrig-sim", f"sim-{device.role}"
                dut.firmware_before = 0x00010000
            elif step_spec.name == "ota":
                slow = device.id == fail_ota_on
                total = 4096
                for i in range(17):
                    dut.events.append(Event(t + i * (8.0 if slow else 2.0), EventKind.OTA_PROGRESS,
                                            {"offset": i * 256, "total": total}, device.id))
                step.measure(OTA_RATE, 32.0 if slow else 128.0 * 8)
                step.measure(OTA_VERSION, 0x00010000 if slow else 0x00020000)
                step.attach("transfer.log", "text/plain", f"blocks for {device.id}\n".encode())
                dut.image_hash = "ab" * 32
                if not slow:
                    dut.firmware_after = 0x00020000
            elif step_spec.name == "gas":
                for i, status in enumerate(("reliable", "reliable", "unreliable", "reliable")):
                    dut.events.append(Event(t + 30 * i, EventKind.GAS_READING, {"clock_status": status},
                                            device.id))
                step.measure(GAS_STATUS, "reliable")
            elif step_spec.name == "certs":
                step.measure(CERT_CHAIN, True)
                step.measure(CERT_NO, "90:b3:d5:1f:30:01:00:02")
                step.attach("chain.pem", "application/x-pem-file", b"-----BEGIN CERTIFICATE-----\n")
            elif step_spec.name == "alerts":
                for i in range(12):
                    dut.events.append(Event(t + i * 3.0, EventKind.ALERT, {"code": "0x8f01"}, device.id))
            step.finish(outcome, end=t + 5.0)
            dut.steps.append(step)
            t += 6.0
            done += 1
    run.finish(end=t)
    return run



class Inspector(HTMLParser):
    """Collects tags, attributes and text to check the report from the outside."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str, str]] = []
        self.duts: list[str] = []
        self.style = ""
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for name, value in attrs:
            self.attrs.append((tag, name, value or ""))
            if name == "data-dut":
                self.duts.append(value)
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.style += data


def check_self_contained(text: str) -> Inspector:
    page = Inspector()
    page.feed(text)
    page.close()
    for tag, name, value in page.attrs:
        if name in ("src", "href", "xlink:href", "action", "srcset", "poster", "data"):
            assert value.startswith("#") or value.startswith("data:"), (tag, name, value)
    assert not {"script", "link", "iframe", "object", "embed", "img"} & set(page.tags)
    assert "url(" not in page.style and "@import" not in page.style
    assert "http://" not in text and "https://" not in text
    return page



def write_runs(root: Path, tag: str, runs: int, steps: int) -> None:
    with open_store(root) as store:
        for r in range(runs):
            run = RunRecord(f"run-{tag}-{r}", "bench", "", "h", "op", {}, start=float(r),
                            duts=[DutRecord("ihd", "IHD", "00:0d:6f:00:0a:bc:00:03")])
            store.begin_run(run)
            for s in range(steps):
                step = StepRecord("join", s, "ihd", start=float(s))
                step.measure(STEP_TIME, 1.0)
                step.finish(end=s + 0.5)
                store.record_step(run.run_id, step)
            store.add_events(run.run_id,
                             [Event(float(i), EventKind.ALERT, {"n": i}, "ihd") for i in range(50)])
            run.finish(end=100.0)
            store.finish_run(run)

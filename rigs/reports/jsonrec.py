"""JSON documents of a run: one test record per DUT (OpenHTF's spirit) and the whole run.

Hex identifiers follow the CLI contract: strings such as ``"0x00010000"`` with ``_int`` twins,
EUI-64s as ``"00:0d:6f:..."``, times as ISO 8601 UTC plus epoch seconds.
"""

from __future__ import annotations

import re
from typing import Any

from gateway.alerts import AlertPolicy
from gateway.formatting import fmt_hex

from ..exceptions import RigFileError
from ..records import DutRecord, EventKind, RunRecord, iso
from ..rigfile import parse_rig

DUT_RECORD_SCHEMA = "hanrig.dut-record/1"
RUN_RECORD_SCHEMA = "hanrig.run-record/1"


def hex_pair(name: str, value: int | None, width: int = 8) -> dict[str, Any]:
    """``{name: "0x..", name_int: n}`` (both None when unknown)."""
    return {name: fmt_hex(value, width) if value is not None else None, f"{name}_int": value}


def run_header(run: RunRecord) -> dict[str, Any]:
    """Where, when and with what the run happened, and how it ended."""
    return {
        "run_id": run.run_id, "rig_name": run.rig_name, "host": run.host, "operator": run.operator,
        "versions": dict(run.versions), "radio_firmware": dict(run.radio_firmware),
        "start_time": iso(run.start), "end_time": iso(run.end), "start": run.start, "end": run.end,
        "status": str(run.status), "outcome": str(run.outcome) if run.outcome else None,
        "outcome_details": [d.to_dict() for d in run.details], "attempts": run.attempts,
        "test_only": conditions(run)["test_only"],  # the TEST-ONLY material in use (empty: none)
    }


def dut_header(dut: DutRecord) -> dict[str, Any]:
    return {
        "id": dut.id, "role": dut.role, "eui64": dut.eui64, "radio": dut.radio,
        "manufacturer": dut.manufacturer, "model": dut.model,
        **hex_pair("firmware_before", dut.firmware_before), **hex_pair("firmware_after", dut.firmware_after),
        "image_hash": dut.image_hash, "metadata": dict(dut.metadata),
    }


def dut_test_record(run: RunRecord, dut: DutRecord) -> dict[str, Any]:
    """The test record of one DUT: its identity, outcome, every step attempt and its events."""
    return {
        "schema": DUT_RECORD_SCHEMA,
        "run": run_header(run),
        "dut": dut_header(dut),
        "outcome": str(dut.outcome),
        "steps": [s.to_dict() for s in dut.steps],
        "events": [e.to_dict() for e in dut.events],
        "rig_snapshot": run.rig_snapshot,
    }


def run_document(run: RunRecord) -> dict[str, Any]:
    """The whole run as one JSON document (``hanrig results export --format json``)."""
    return {
        "schema": RUN_RECORD_SCHEMA,
        "run": run_header(run),
        "duts": [{**dut_header(d), "outcome": str(d.outcome), "steps": [s.to_dict() for s in d.steps],
                  "events": [e.to_dict() for e in d.events]} for d in run.duts],
        "events": [e.to_dict() for e in run.events],
        "rig_snapshot": run.rig_snapshot,
    }


def conditions(run: RunRecord) -> dict[str, Any]:
    """What the records say about how the results were produced: simulated devices, the virtual stick
    or real hardware, and which TEST-ONLY material was in use."""
    radios = []
    try:
        radios = list(parse_rig(run.rig_snapshot, check_references=False).radios) if run.rig_snapshot else []
    except RigFileError:
        radios = []
    kinds = set()
    for radio in radios:
        firmware = run.radio_firmware.get(radio.id, "")
        if radio.url.startswith("sim:"):
            kinds.add("simulated")
        elif "virtual-ezsp-stick" in firmware or firmware.startswith("hanrig"):
            kinds.add("virtual-stick")
        else:
            kinds.add("hardware")
    texts = {"simulated": "simulated devices (sim://, the built-in simulated HAN)",
             "virtual-stick": "simulated devices behind the virtual EZSP stick (hanrig sim stick)",
             "hardware": "real radio hardware with the devices under test"}
    kind = kinds.pop() if len(kinds) == 1 else ("mixed" if kinds else "unknown")
    text = texts.get(kind, "several kinds of radio: " + ", ".join(sorted(texts[k] for k in kinds))
                     if kind == "mixed" else "unknown (the rig snapshot names no radio)")
    test_only = []
    if kind in ("simulated", "virtual-stick", "mixed"):
        test_only.append("the simulated meters hold the bench's TEST-ONLY SMKI PKI")
    named = sorted(set(re.findall(r"TEST-ONLY[\w.-]*", run.rig_snapshot or "")))
    if named:
        test_only.append("the rig names " + ", ".join(named))
    images = sorted({i.get("file") for d in run.duts for i in d.metadata.get("images", [])
                     if str(i.get("file", "")).startswith("TEST-ONLY")})
    if images:
        test_only.append("images signed with the TEST-ONLY supplier key: " + ", ".join(images))
    test_only += [d.description for d in run.details if "test-only" in d.code.lower()]
    test_only += [str(e.data.get("message")) for e in run.events
                  if e.kind is EventKind.LOG and e.data.get("allow_test_keys")]
    return {"kind": kind, "text": text, "test_only": test_only,
            "radios": [{"id": r.id, "url": r.url, "firmware": run.radio_firmware.get(r.id, "—")}
                       for r in radios]}


def planned_steps(run: RunRecord) -> list[tuple[str, int, str]] | None:
    """What the run's rig snapshot planned, or None when the snapshot cannot be parsed."""
    try:
        return parse_rig(run.rig_snapshot, check_references=False).planned() if run.rig_snapshot else None
    except RigFileError:
        return None


def alert_policy(run: RunRecord) -> AlertPolicy:
    """The alert throttle the run was under (from its rig snapshot), or the default one."""
    try:
        if not run.rig_snapshot:
            return AlertPolicy()
        return parse_rig(run.rig_snapshot, check_references=False).policies.alerts
    except RigFileError:
        return AlertPolicy()

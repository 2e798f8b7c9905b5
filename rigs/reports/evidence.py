"""The evidence pack per DUT for a CPL submission: a directory of JSON + HTML (+ the attached files).

For each DUT: the conditions the results were produced under (simulated or hardware, TEST-ONLY keys),
identity (role, EUI-64, serial, manufacturer, model, hardware version), firmware before and after, the
image names and hashes, how the transfer ended (the OTA step's outcome, details and measurements), the
negative OTA cases (SECMP0007) and the certificate checks (the certs step's measurements), with the
run's provenance (rig, host, operator, software and radio firmware) and a sign-off block. The HTML is
rendered from ``templates/evidence.html.j2`` with autoescaping. Attachments of the OTA, ota_negative
and certs steps are copied in with their SHA-256.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from markupsafe import Markup

from ..records import DutRecord, RunRecord, StepRecord
from ..store import atomic_write, contained_path, safe_name
from .html import CSS, conditions, templates
from .jsonrec import dut_header, run_header

EVIDENCE_SCHEMA = "hanrig.evidence-pack/1"
EVIDENCE_STEPS = ("ota", "ota_negative", "certs")


def _step_evidence(step: StepRecord | None) -> dict[str, Any] | None:
    if step is None:
        return None
    return {"outcome": str(step.outcome) if step.outcome else None, "attempt": step.attempt,
            "duration_s": round(step.duration, 3), "details": [d.to_dict() for d in step.details],
            "measurements": [m.to_dict() for m in step.measurements]}


def evidence_document(run: RunRecord, dut: DutRecord) -> dict[str, Any]:
    """The evidence of one DUT as a JSON-friendly dict."""
    ota, certs = dut.step("ota"), dut.step("certs")
    return {
        "schema": EVIDENCE_SCHEMA,
        "run": run_header(run),
        "device": dut_header(dut),
        "outcome": str(dut.outcome),
        "conditions": {k: v for k, v in conditions(run).items() if k != "radios"},
        "transfer": _step_evidence(ota),
        "negative_ota": _step_evidence(dut.step("ota_negative")),
        "certificate_checks": ([{"check": m.name, "value": m.value, "outcome": str(m.outcome),
                                 "limits": m.limits, "description": m.description}
                                for m in certs.measurements] if certs is not None else None),
        "certificates_step": _step_evidence(certs),
        "steps": [{"index": s.index, "name": s.name, "outcome": str(s.outcome) if s.outcome else None}
                  for s in dut.final_steps()],
        "attachments": [{"step": s.name, "name": a.name, "mimetype": a.mimetype, "size": a.size,
                         "sha256": a.sha256, "file": f"attachments/{safe_name(f'{s.name}-{n}-{a.name}')}"}
                        for s in dut.final_steps() if s.name in EVIDENCE_STEPS
                        for n, a in enumerate(s.attachments)],
    }


def evidence_html(doc: dict[str, Any]) -> str:
    """The same evidence rendered for a human reviewer (self-contained; ``templates/evidence.html.j2``)."""
    return templates().get_template("evidence.html.j2").render({**doc, "css": Markup(CSS)}) + "\n"


def write_evidence_pack(run: RunRecord, dut: DutRecord, directory: Path) -> Path:
    """Write ``<directory>/<dut id>/`` with evidence.json, evidence.html and attachments/."""
    target = contained_path(directory, dut.id)
    doc = evidence_document(run, dut)
    for step in dut.final_steps():
        if step.name in EVIDENCE_STEPS:
            for n, attachment in enumerate(step.attachments):
                atomic_write(contained_path(target, "attachments", f"{step.name}-{n}-{attachment.name}"),
                             attachment.read())
    atomic_write(target / "evidence.json", (json.dumps(doc, indent=2, default=str) + "\n").encode())
    atomic_write(target / "evidence.html", evidence_html(doc).encode())
    return target

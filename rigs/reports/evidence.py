"""The evidence pack per DUT for a CPL submission: a directory of JSON + HTML (+ the attached files).

For each DUT: identity (role, EUI-64, manufacturer, model), firmware before and after, the image
hash, how the transfer ended (the OTA step's outcome, details and measurements), and the
certificate checks (the certs step's measurements), with the run's provenance (rig, host, operator,
software versions). Attachments of the OTA and certs steps are copied in with their SHA-256.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import Any

from ..records import DutRecord, RunRecord, StepRecord
from ..store import atomic_write, contained_path, safe_name
from .html import CSS
from .jsonrec import dut_header, run_header

EVIDENCE_SCHEMA = "hanrig.evidence-pack/1"
EVIDENCE_STEPS = ("ota", "certs")


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
        "transfer": _step_evidence(ota),
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
    """The same evidence rendered for a human reviewer (self-contained)."""
    device, run = doc["device"], doc["run"]

    def rows(pairs: list[tuple[str, Any]]) -> str:
        return "".join(f"<tr><td>{escape(k)}</td><td>{escape('—' if v is None else str(v))}</td></tr>"
                       for k, v in pairs)

    ident = rows([("device", device["id"]), ("role", device["role"]), ("EUI-64", device["eui64"]),
                  ("manufacturer", device["manufacturer"]), ("model", device["model"]),
                  ("firmware before", device["firmware_before"]),
                  ("firmware after", device["firmware_after"]),
                  ("image SHA-256", device["image_hash"]), ("outcome", doc["outcome"])])
    prov = rows([("run", run["run_id"]), ("rig", run["rig_name"]), ("started", run["start_time"]),
                 ("ended", run["end_time"]), ("host", run["host"]), ("operator", run["operator"]),
                 *((f"version {k}", v) for k, v in sorted(run["versions"].items()))])
    transfer = doc["transfer"]
    if transfer is None:
        transfer_html = "<p>No OTA step was run for this device.</p>"
    else:
        transfer_html = ("<table>" + rows([("outcome", transfer["outcome"]), ("attempt", transfer["attempt"]),
                                           ("duration (s)", transfer["duration_s"])])
                         + rows([(d["code"], d["description"]) for d in transfer["details"]])
                         + rows([(m["name"],
                                  f"{m['value']!r} {m['units']} ({m['outcome']}, limits {m['limits']})")
                                 for m in transfer["measurements"]]) + "</table>")
    checks = doc["certificate_checks"]
    if checks is None:
        certs_html = "<p>No certificate step was run for this device.</p>"
    else:
        certs_html = ("<table><tr><th>check</th><th>value</th><th>limits</th><th>outcome</th></tr>"
                      + "".join(f"<tr><td>{escape(c['check'])}</td><td>{escape(repr(c['value']))}</td>"
                                f"<td>{escape(c['limits'])}</td><td><span class=\"o {escape(c['outcome'])}\">"
                                f"{escape(c['outcome'])}</span></td></tr>" for c in checks) + "</table>")
    files = "".join(f"<li>{escape(a['file'])} ({a['size']} bytes, "
                    f"sha256 <code>{escape(a['sha256'])}</code>)</li>" for a in doc["attachments"])
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Evidence: {escape(device['id'])} ({escape(device['eui64'])})</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>Evidence pack: {escape(device['id'])} <span class=\"o {escape(doc['outcome'])}\">"
        f"{escape(doc['outcome'])}</span></h1>",
        f'<h2>Device</h2><table class="meta">{ident}</table>',
        f"<h2>Firmware transfer</h2>{transfer_html}",
        f"<h2>Certificate checks</h2>{certs_html}",
        f"<h2>Files</h2><ul>{files}</ul>" if files else "",
        f'<h2>Provenance</h2><table class="meta">{prov}</table>',
        "</body></html>", ""])


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

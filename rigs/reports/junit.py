"""JUnit XML of a run: one testsuite per DUT, one testcase per DUT x step, as CI servers read it.

FAIL maps to ``<failure>``, ERROR / TIMEOUT / ABORTED to ``<error>`` (the rig, not the DUT), SKIPPED
to ``<skipped>``. A planned step that never ran (the run died or was aborted) is an ``<error>`` so CI
never reads an unfinished run as green. Validated in the tests against Jenkins' junit-10.xsd.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from ..records import MeasurementOutcome, RunRecord, StepOutcome, StepRecord, iso
from .jsonrec import conditions, planned_steps

_ERROR_OUTCOMES = (StepOutcome.ERROR, StepOutcome.TIMEOUT, StepOutcome.ABORTED)
# XML 1.0 cannot carry most control characters, even escaped.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(text: str) -> str:
    return _XML_ILLEGAL.sub("\ufffd", text)


def _seconds(value: float) -> str:
    return f"{max(value, 0.0):.3f}"


def _measurement_lines(step: StepRecord) -> str:
    lines = []
    for m in step.measurements:
        flag = " (marginal)" if m.marginal else ""
        limits = f" [{m.limits}]" if m.limits else ""
        lines.append(f"{m.outcome} {m.name} = {m.value!r} {m.units}{limits}{flag}".replace("  ", " "))
    for a in step.attachments:
        lines.append(f"attachment {a.name} ({a.mimetype}, {a.size} bytes, sha256 {a.sha256})")
    return "\n".join(lines)


def junit_xml(run: RunRecord) -> bytes:
    """The run as a JUnit XML document (UTF-8 bytes with declaration)."""
    planned = planned_steps(run)
    test_only = conditions(run)["test_only"]  # the same TEST-ONLY marks as the HTML report's banner
    root = ET.Element("testsuites", name=_clean(f"hanrig {run.rig_name} {run.run_id}"))
    totals = {"tests": 0, "failures": 0, "errors": 0, "time": 0.0}
    for dut in run.duts:
        suite = ET.SubElement(root, "testsuite", name=_clean(f"{dut.id} ({dut.role} {dut.eui64})"),
                              id=dut.id, package=_clean(f"hanrig.{run.rig_name}"),
                              timestamp=iso(run.start) or "", hostname=_clean(run.host))
        props = ET.SubElement(suite, "properties")
        for name, value in (("run_id", run.run_id), ("rig", run.rig_name), ("eui64", dut.eui64),
                            ("role", dut.role), ("model", dut.model or ""), ("operator", run.operator),
                            *sorted((f"version.{k}", v) for k, v in run.versions.items())):
            ET.SubElement(props, "property", name=name, value=_clean(str(value)))
        if test_only:
            marks = "TEST-ONLY: " + "; ".join(test_only)
            ET.SubElement(props, "property", name="test_only", value=_clean(marks))
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0, "time": 0.0}
        recorded = dut.final_steps()
        seen = {s.index for s in recorded}
        cases: list[tuple[int, str, StepRecord | None]] = [(s.index, s.name, s) for s in recorded]
        if planned is not None:
            cases += [(i, name, None) for d, i, name in planned if d == dut.id and i not in seen]
        for index, name, step in sorted(cases, key=lambda c: c[0]):
            case = ET.SubElement(suite, "testcase", name=f"{index:02d}-{name}",
                                 classname=_clean(f"hanrig.{run.rig_name}.{dut.id}"),
                                 time=_seconds(step.duration if step else 0.0))
            counts["tests"] += 1
            if step is None or step.outcome is None:
                why = f"not run: the run is {run.status}" + (f" ({run.outcome})" if run.outcome else "")
                if step is not None:
                    why = "step never finished"
                ET.SubElement(case, "error", type="NOT_RUN", message=why)
                counts["errors"] += 1
                continue
            counts["time"] += step.duration
            message = _clean(step.summary())
            if step.outcome is StepOutcome.FAIL:
                failed = [m for m in step.measurements if m.outcome is MeasurementOutcome.FAIL]
                element = ET.SubElement(case, "failure", type="FAIL", message=message)
                element.text = _clean("\n".join(f"{m.name} = {m.value!r} {m.units}, limits {m.limits}"
                                                 for m in failed) or message)
                counts["failures"] += 1
            elif step.outcome in _ERROR_OUTCOMES:
                ET.SubElement(case, "error", type=str(step.outcome), message=message)
                counts["errors"] += 1
            elif step.outcome is StepOutcome.SKIPPED:
                ET.SubElement(case, "skipped", message=message)
                counts["skipped"] += 1
            text = _measurement_lines(step)
            if text:
                ET.SubElement(case, "system-out").text = _clean(text)
        for key in ("tests", "failures", "errors", "skipped"):
            suite.set(key, str(counts[key]))
        suite.set("time", _seconds(counts["time"]))
        for key in ("tests", "failures", "errors"):
            totals[key] += counts[key]
        totals["time"] += counts["time"]
    for key in ("tests", "failures", "errors"):
        root.set(key, str(totals[key]))
    root.set("time", _seconds(totals["time"]))
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"

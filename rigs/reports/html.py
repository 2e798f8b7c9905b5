"""The self-contained HTML report of a run, as evidence a certifier reads.

Rendered from ``templates/report.html.j2`` with jinja2 and autoescaping: the conditions banner
(simulated devices, the virtual stick or real hardware; TEST-ONLY keys), the devices under test (EUI-64,
manufacturer, model, hardware version, firmware before and after, image names and hashes), the station
(host, radio firmware, hanrig version), operator and date; a coverage table of the requirements the plan
evidences (``rigs.requirements``: SECMP and ZCL/GBCS clauses) and the results grouped by requirement,
each measurement naming its own; plots; and a sign-off block. A print stylesheet lays it out on A4.

No scripts, no network, no external assets: one file that opens anywhere. Plots: OTA throughput per
device (each its own marker and dash) against the modelled limit (a number the caller passes), gas
readings on a UTC time axis coloured by the GPF's clock status, and the alerts the hub forwarded and
throttled with the throttling metadata.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence
from functools import cache
from importlib import resources
from typing import Any

import jinja2
from markupsafe import Markup

from gateway.alerts import AlertPolicy

from ..records import DutRecord, Event, EventKind, MeasurementOutcome, RunRecord, StepRecord, iso
from ..requirements import REQUIREMENTS, requirements_of
from .jsonrec import alert_policy as run_alert_policy
from .jsonrec import conditions, hex_pair, planned_steps
from .svg import Series, chart

# the GPF's SECMP0015 clock status of each reading (as gateway.gpf classifies it) and its colour
GAS_COLOURS = {"reliable": "#2ca02c", "unreliable": "#ff7f0e", "invalid": "#d62728"}


@cache
def templates() -> jinja2.Environment:
    """The report templates (``templates/``), autoescaped."""
    return jinja2.Environment(
        loader=jinja2.FunctionLoader(lambda name: resources.files(__package__).joinpath(
            "templates", name).read_text(encoding="utf-8")),
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=False, lstrip_blocks=False)


CSS = resources.files(__package__).joinpath("templates", "report.css").read_text(encoding="utf-8")


def ota_throughput(events: Sequence[Event]) -> list[tuple[float, float]]:
    """(time, bytes/s) between consecutive OTA progress samples; a restart (offset going back) resets."""
    samples = sorted((e.run_time, float(e.data.get("offset", 0)))
                     for e in events if e.kind is EventKind.OTA_PROGRESS)
    points = []
    for (t0, o0), (t1, o1) in itertools.pairwise(samples):
        if t1 > t0 and o1 >= o0:
            points.append((t1, (o1 - o0) / (t1 - t0)))
    return points


def _relative(points: list[tuple[float, float]], origin: float) -> list[tuple[float, float]]:
    return [(t - origin, v) for t, v in points]


def _utc(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%H:%M:%S")


def gas_points(dut: DutRecord) -> tuple[list[tuple[float, float]], list[str]]:
    """(UTC time of the value, m3/h) and the colour of its clock status, for each gas reading."""
    points, colours = [], []
    for e in sorted(dut.events, key=lambda e: e.run_time):
        if e.kind is not EventKind.GAS_READING:
            continue
        when = e.run_time
        stamp = e.data.get("timestamp") or e.data.get("received_at")
        if isinstance(stamp, str):
            try:
                when = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
            except ValueError:
                pass
        value = e.data.get("value")
        status = str(e.data.get("clock_status", "invalid"))
        points.append((when, float(value) if isinstance(value, int | float) else 0.0))
        colours.append(GAS_COLOURS.get(status, GAS_COLOURS["invalid"]))
    return points, colours


ALERT_ROWS = ("forwarded", "forwarded with throttle count", "count report")


def _alert_rows(events: Sequence[Event]) -> list[tuple[float, float]]:
    points = []
    for e in sorted(events, key=lambda e: e.run_time):
        if e.kind is EventKind.ALERT:
            row = 1 if e.data.get("throttled_alert_count") else 0
        elif e.kind is EventKind.LOG and e.data.get("throttled_alert_count") is not None:
            row = 2
        else:
            continue
        points.append((e.run_time, float(row)))
    return points


def throttling_rows(run: RunRecord) -> list[dict[str, Any]]:
    """Every forwarded copy or report that carried throttling metadata."""
    rows = []
    for dut in run.duts:
        for e in sorted(dut.events, key=lambda e: e.time):
            count = e.data.get("throttled_alert_count")
            if e.kind in (EventKind.ALERT, EventKind.LOG) and count is not None:
                code = e.data.get("code", e.data.get("alert_code", "?"))
                kind = "forwarded copy" if e.kind is EventKind.ALERT else "count report"
                rows.append({"time": iso(e.time), "dut": dut.id, "code": str(code), "kind": kind,
                             "sequence_id": e.data.get("throttled_alert_sequence_id"), "count": count})
    return rows


def plots(run: RunRecord, ota_limit_bps: float | None, alerts: AlertPolicy) -> list[dict[str, Any]]:
    """The report's three charts, as inline SVG (markup built with every text escaped)."""
    ota = [Series(d.id, _relative(ota_throughput(d.events), run.start)) for d in run.duts]
    ota = [s for s in ota if s.points]
    gas = []
    for d in run.duts:
        points, colours = gas_points(d)
        if points:
            gas.append(Series(d.id, points, colours))
    rows = [Series(d.id, _relative(_alert_rows(d.events), run.start), line=False) for d in run.duts]
    rows = [s for s in rows if s.points]
    limit = (f"modelled limit {ota_limit_bps:g} B/s", ota_limit_bps) if ota_limit_bps is not None else None
    return [
        {"svg": Markup(chart("OTA throughput per device", ota, x_label="seconds since run start",
                             y_label="bytes/s", limit=limit)),
         "caption": "Each device has its own colour, marker and dash; the dashed red line is the modelled "
                    "air limit for one device."},
        {"svg": Markup(chart("Gas readings (GPF value, coloured by clock status)", gas, x_label="time (UTC)",
                             y_label="m3/h", x_format=_utc,
                             legend_colours=[(f"clock {k}", v) for k, v in GAS_COLOURS.items()])),
         "caption": "Each value at its timestamp (the GSME's or the GPF's), coloured by its SECMP0015 "
                    "clock status."},
        {"svg": Markup(chart(f"Alerts the hub sent (throttle: {alerts.threshold} per {alerts.window_s:g} s, "
                             f"then one per {alerts.forward_period_s:g} s)", rows,
                             x_label="seconds since run start", y_label="", categories=ALERT_ROWS)),
         "caption": "Forwarded alerts, forwarded copies carrying a throttled count, and count reports; "
                    "the table lists the throttling metadata."},
    ]


def _fw(value: int | None) -> str | None:
    return hex_pair("v", value)["v"]


def _step_view(dut: DutRecord, step: StepRecord) -> dict[str, Any]:
    homes = requirements_of(step.name)
    default_requirement = homes[0].id if homes else "—"
    return {
        "dut": dut.id, "index": f"{step.index:02d}", "name": step.name, "attempt": step.attempt,
        "outcome": str(step.outcome or "running"), "duration": f"{step.duration:.2f}",
        "details": [{"code": d.code, "description": d.description} for d in step.details],
        "measurements": [{"name": m.name, "value": repr(m.value), "units": m.units, "limits": m.limits,
                          "outcome": str(m.outcome), "marginal": m.marginal,
                          "requirement": m.description if m.description.startswith(("SECMP", "ZCL", "GBCS"))
                          else f"{default_requirement}" + (f": {m.description}" if m.description else "")}
                         for m in step.measurements],
        "attachments": [{"name": a.name, "mimetype": a.mimetype, "size": a.size, "sha256": a.sha256}
                        for a in step.attachments],
    }


def html_report(run: RunRecord, *, ota_limit_bps: float | None = None,
                alerts: AlertPolicy | None = None) -> str:
    """The whole report as one HTML document."""
    alerts = alerts if alerts is not None else run_alert_policy(run)
    planned = planned_steps(run) or []
    step_names = sorted({(s.index, s.name) for d in run.duts for s in d.steps}
                        | {(i, n) for _, i, n in planned})
    duts, groups, failures = [], {}, []
    coverage: dict[str, dict[str, Any]] = {}
    for requirement_id in dict.fromkeys(r.id for _, name in step_names for r in requirements_of(name)):
        r = REQUIREMENTS[requirement_id]
        coverage[r.id] = {"id": r.id, "title": r.title, "clauses": r.clauses, "steps": 0, "passed": 0,
                          "failed": 0, "not_run": 0}
        groups[r.id] = {"id": r.id, "title": r.title, "clauses": r.clauses, "steps": []}
    for dut in run.duts:
        final = {s.index: s for s in dut.final_steps()}
        wanted = {(i, n) for d, i, n in planned if d == dut.id}
        summary = []
        for index, name in step_names:
            step = final.get(index)
            if step is not None:
                outcome = str(step.outcome or "running")
            else:
                outcome = "NOT_RUN" if (index, name) in wanted else ""
            summary.append({"index": f"{index:02d}", "name": name, "outcome": outcome})
            if not outcome:
                continue
            for r in requirements_of(name):
                row = coverage[r.id]
                row["steps"] += 1
                if outcome == "PASS":
                    row["passed"] += 1
                elif outcome in ("NOT_RUN", "SKIPPED", "running"):
                    row["not_run"] += 1
                else:
                    row["failed"] += 1
            home = requirements_of(name)
            if step is not None and home:
                groups[home[0].id]["steps"].append(_step_view(dut, step))
            elif step is None and home:
                groups[home[0].id]["steps"].append({
                    "dut": dut.id, "index": f"{index:02d}", "name": name, "attempt": "", "outcome": "NOT_RUN",
                    "duration": "", "details": [{"code": "not-run", "description": "never recorded"}],
                    "measurements": [], "attachments": []})
            if step is not None and step.outcome is not None and str(step.outcome) != "PASS":
                failures.append({"dut": dut.id, "step": name, "outcome": str(step.outcome),
                                 "summary": step.summary()})
        duts.append({
            "id": dut.id, "role": dut.role, "eui64": dut.eui64, "radio": dut.radio,
            "serial": dut.metadata.get("serial"), "manufacturer": dut.manufacturer, "model": dut.model,
            "hw_version": dut.metadata.get("hw_version"), "firmware_before": _fw(dut.firmware_before),
            "firmware_after": _fw(dut.firmware_after),
            "images": dut.metadata.get("images") or ([{"file": None, "sha256": dut.image_hash}]
                                                     if dut.image_hash else []),
            "se_refused": dut.metadata.get("se_refused") or {},
            "outcome": str(dut.outcome), "summary": summary})
    for row in coverage.values():
        row["verdict"] = ("FAIL" if row["failed"] else "NOT_RUN" if row["not_run"] == row["steps"]
                          else "PASS" if not row["not_run"] else "incomplete")
    cond = conditions(run)
    versions = ", ".join(f"{k} {v}" for k, v in sorted(run.versions.items()))
    context = {
        "css": Markup(CSS), "conditions": cond, "radios": cond["radios"], "duts": duts,
        "coverage": list(coverage.values()), "groups": [g for g in groups.values() if g["steps"]],
        "failures": failures, "plots": plots(run, ota_limit_bps, alerts), "throttling": throttling_rows(run),
        "run": {"run_id": run.run_id, "rig_name": run.rig_name, "status": str(run.status),
                "outcome": str(run.outcome) if run.outcome else None, "attempts": run.attempts,
                "started": iso(run.start), "ended": iso(run.end), "operator": run.operator, "host": run.host,
                "hanrig_version": run.versions.get("hanrig", "?"), "software": versions,
                "details": [{"code": d.code, "description": d.description} for d in run.details]},
        "summary": {"duts": len(run.duts), "steps": sum(len(d.final_steps()) for d in run.duts),
                    "measurements": sum(len(s.measurements) for d in run.duts for s in d.steps),
                    "failed_measurements": sum(1 for d in run.duts for s in d.steps for m in s.measurements
                                               if m.outcome is MeasurementOutcome.FAIL)},
    }
    return templates().get_template("report.html.j2").render(context) + "\n"

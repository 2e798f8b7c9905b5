"""The self-contained HTML report of a run: summary, a table per DUT, and inline SVG plots.

No scripts, no network, no external assets: one file that opens anywhere. Plots where people would
rather look than read: OTA throughput per device against the modelled limit (a number the caller
passes), gas timestamp (clock) status over time, and alert rate against the hub's throttle.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from html import escape

from gateway.alerts import AlertPolicy

from ..records import DutRecord, Event, EventKind, MeasurementOutcome, RunRecord, StepRecord, iso
from .jsonrec import alert_policy as run_alert_policy
from .jsonrec import hex_pair, planned_steps
from .svg import Series, chart

# the GPF's SECMP0015 clock status of each reading, worst first (as gateway.gpf classifies it)
GAS_STATUSES = ("invalid", "unreliable", "reliable")

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:1.5em;color:#222;max-width:1200px}
h1{font-size:1.5em;margin-bottom:.2em}h2{margin-top:1.6em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.6em 0}th,td{border:1px solid #ccc;padding:3px 8px;text-align:left;
vertical-align:top;font-size:.92em}th{background:#f0f0f0}
.o{font-weight:600;border-radius:3px;padding:1px 6px;white-space:nowrap}
.PASS{background:#d7f5dd;color:#0a5c1c}.FAIL{background:#ffd9d9;color:#8a0000}
.ERROR,.TIMEOUT,.ABORTED,.NOT_RUN{background:#ffe8c2;color:#7a4100}.SKIPPED,.UNSET{background:#eee;color:#555}
.running,.incomplete{background:#fff3b0;color:#6b5900}.finished{background:#e6f0ff;color:#123e7a}
.marginal{background:#fff3b0;color:#6b5900}
.meta td:first-child{font-weight:600}.chart-title{font-weight:600;font-size:13px}
.tick,.legend{font-size:11px;fill:#333}.axis{font-size:12px;fill:#333}.empty{font-size:13px;fill:#888}
details{margin:.3em 0}code{font-size:.9em}
"""


def _o(outcome: object) -> str:
    text = escape(str(outcome))
    return f'<span class="o {text}">{text}</span>'


def ota_throughput(events: Sequence[Event]) -> list[tuple[float, float]]:
    """(time, bytes/s) between consecutive OTA progress samples; a restart (offset going back) resets."""
    samples = sorted((e.time, float(e.data.get("offset", 0)))
                     for e in events if e.kind is EventKind.OTA_PROGRESS)
    points = []
    for (t0, o0), (t1, o1) in itertools.pairwise(samples):
        if t1 > t0 and o1 >= o0:
            points.append((t1, (o1 - o0) / (t1 - t0)))
    return points


def alert_rate(events: Sequence[Event], window_s: float) -> list[tuple[float, float]]:
    """(time, alerts in the trailing ``window_s``) at every alert: what the throttle compares."""
    times = sorted(e.time for e in events if e.kind is EventKind.ALERT)
    points, start = [], 0
    for end, t in enumerate(times):
        while times[start] <= t - window_s:
            start += 1
        points.append((t, float(end - start + 1)))
    return points


def gas_status(events: Sequence[Event]) -> list[tuple[float, float]]:
    """(time, index into GAS_STATUSES) for every gas reading with a clock status."""
    points = []
    for e in sorted(events, key=lambda e: e.time):
        if e.kind is EventKind.GAS_READING:
            status = str(e.data.get("clock_status", "invalid"))
            points.append((e.time, float(GAS_STATUSES.index(status) if status in GAS_STATUSES else 0)))
    return points


def _relative(points: list[tuple[float, float]], origin: float) -> list[tuple[float, float]]:
    return [(t - origin, v) for t, v in points]


def plots(run: RunRecord, ota_limit_bps: float | None, alerts: AlertPolicy) -> str:
    """The report's three charts, as inline SVG."""
    ota = [Series(d.id, _relative(ota_throughput(d.events), run.start)) for d in run.duts]
    gas = [Series(d.id, _relative(gas_status(d.events), run.start)) for d in run.duts]
    rate = [Series(d.id, _relative(alert_rate(d.events, alerts.window_s), run.start)) for d in run.duts]
    parts = []
    ota = [s for s in ota if s.points]
    parts.append(chart("OTA throughput per device", ota, x_label="seconds since run start",
                       y_label="bytes/s",
                       limit=(f"modelled limit {ota_limit_bps:g} B/s", ota_limit_bps)
                       if ota_limit_bps is not None else None))
    parts.append(chart("Gas meter timestamp status", [s for s in gas if s.points],
                       x_label="seconds since run start", y_label="clock status", categories=GAS_STATUSES,
                       step=True))
    parts.append(chart(f"Alert rate (alerts per {alerts.window_s:g} s)", [s for s in rate if s.points],
                       x_label="seconds since run start", y_label=f"alerts / {alerts.window_s:g} s",
                       limit=(f"throttle {alerts.threshold}", float(alerts.threshold))))
    return "\n".join(f'<div class="plot">{p}</div>' for p in parts)


def _fw(value: int | None) -> str:
    text = hex_pair("v", value)["v"]
    return escape(text) if text else "&mdash;"


def _step_rows(step: StepRecord) -> str:
    details = "<br>".join(f"<code>{escape(d.code)}</code> {escape(d.description)}" for d in step.details)
    rows = [f"<tr><td>{step.index:02d}</td><td>{escape(step.name)}</td><td>{step.attempt}</td>"
            f"<td>{_o(step.outcome or 'running')}</td><td>{step.duration:.2f}</td><td>{details}</td></tr>"]
    if step.measurements:
        cells = []
        for m in step.measurements:
            marginal = ' <span class="o marginal">marginal</span>' if m.marginal else ""
            cells.append(f"<tr><td>{escape(m.name)}</td><td>{escape(repr(m.value))}</td>"
                         f"<td>{escape(m.units)}</td><td>{escape(m.limits)}</td><td>{_o(m.outcome)}{marginal}</td>"
                         "</tr>")
        rows.append('<tr><td></td><td colspan="5"><table class="measurements"><tr><th>measurement</th>'
                    "<th>value</th><th>units</th><th>limits</th><th>outcome</th></tr>"
                    + "".join(cells) + "</table></td></tr>")
    if step.attachments:
        items = "".join(f"<li>{escape(a.name)} ({escape(a.mimetype)}, {a.size} bytes, sha256 "
                        f"<code>{escape(a.sha256[:16])}…</code>)</li>" for a in step.attachments)
        rows.append(f'<tr><td></td><td colspan="5">attachments<ul>{items}</ul></td></tr>')
    return "".join(rows)


def _dut_section(dut: DutRecord, missing: list[tuple[int, str]]) -> str:
    rows = "".join(_step_rows(s) for s in sorted(dut.steps, key=lambda s: (s.index, s.attempt)))
    rows += "".join(f"<tr><td>{i:02d}</td><td>{escape(n)}</td><td></td><td>{_o('NOT_RUN')}</td><td></td>"
                    "<td>never recorded</td></tr>" for i, n in missing)
    fields = (("role", escape(dut.role)), ("EUI-64", f"<code>{escape(dut.eui64)}</code>"),
              ("radio", escape(dut.radio)), ("manufacturer", escape(dut.manufacturer or "—")),
              ("model", escape(dut.model or "—")), ("firmware before", _fw(dut.firmware_before)),
              ("firmware after", _fw(dut.firmware_after)),
              ("image SHA-256", f"<code>{escape(dut.image_hash)}</code>" if dut.image_hash else "—"),
              ("outcome", _o(dut.outcome)))
    meta = "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in fields)
    return (f'<section class="dut" id="dut-{escape(dut.id)}" data-dut="{escape(dut.id)}">'
            f"<h2>{escape(dut.id)} <small>{escape(dut.role)} {escape(dut.eui64)}</small></h2>"
            f'<table class="meta">{meta}</table>'
            '<table class="steps"><tr><th>#</th><th>step</th><th>attempt</th><th>outcome</th>'
            f"<th>seconds</th><th>details</th></tr>{rows}</table></section>")


def html_report(run: RunRecord, *, ota_limit_bps: float | None = None,
                alerts: AlertPolicy | None = None) -> str:
    """The whole report as one HTML document."""
    alerts = alerts if alerts is not None else run_alert_policy(run)
    planned = planned_steps(run) or []
    step_names = sorted({(s.index, s.name) for d in run.duts for s in d.steps}
                        | {(i, n) for _, i, n in planned})
    head_cells = "".join(f"<th>{i:02d} {escape(n)}</th>" for i, n in step_names)
    summary_rows = []
    missing_by_dut: dict[str, list[tuple[int, str]]] = {}
    for dut in run.duts:
        final = {s.index: s for s in dut.final_steps()}
        wanted = {(i, n) for d, i, n in planned if d == dut.id}
        missing_by_dut[dut.id] = sorted((i, n) for i, n in wanted if i not in final)
        cells = []
        for index, name in step_names:
            if index in final:
                cells.append(f"<td>{_o(final[index].outcome or 'running')}</td>")
            elif (index, name) in wanted:
                cells.append(f"<td>{_o('NOT_RUN')}</td>")
            else:
                cells.append("<td></td>")
        summary_rows.append(f'<tr><td><a href="#dut-{escape(dut.id)}">{escape(dut.id)}</a></td>'
                            f"<td>{escape(dut.role)}</td><td><code>{escape(dut.eui64)}</code></td>"
                            f"<td>{_o(dut.outcome)}</td>{''.join(cells)}</tr>")
    failed = [(d.id, s) for d in run.duts for s in d.final_steps()
              if s.outcome is not None and str(s.outcome) != "PASS"]
    reasons = "".join(f"<li><b>{escape(d)}</b> {escape(s.name)}: {_o(s.outcome)} {escape(s.summary())}</li>"
                      for d, s in failed)
    versions = ", ".join(f"{escape(k)} {escape(v)}" for k, v in sorted(run.versions.items()))
    radios = ", ".join(f"{escape(k)}: {escape(v)}" for k, v in sorted(run.radio_firmware.items())) or "—"
    meta = (("run", f"<code>{escape(run.run_id)}</code>"), ("rig", escape(run.rig_name)),
            ("status", _o(run.status)), ("outcome", _o(run.outcome or "—")),
            ("started", escape(iso(run.start) or "")), ("ended", escape(iso(run.end) or "—")),
            ("host", escape(run.host)), ("operator", escape(run.operator)), ("software", versions),
            ("radio firmware", radios), ("attempts", str(run.attempts)))
    run_details = "".join(f"<li><code>{escape(d.code)}</code> {escape(d.description)}</li>"
                          for d in run.details)
    n_meas = sum(len(s.measurements) for d in run.duts for s in d.steps)
    n_failed_meas = sum(1 for d in run.duts for s in d.steps for m in s.measurements
                        if m.outcome is MeasurementOutcome.FAIL)
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta http-equiv="Content-Security-Policy" '
        'content="default-src \'none\'; style-src \'unsafe-inline\'; img-src data:">',
        f"<title>hanrig run {escape(run.run_id)} ({escape(run.rig_name)})</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>hanrig run {_o(run.outcome or run.status)} {escape(run.rig_name)}</h1>",
        '<table class="meta">' + "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in meta) + "</table>",
        f"<ul>{run_details}</ul>" if run_details else "",
        "<h2>Summary</h2>",
        f"<p>{len(run.duts)} devices, {sum(len(d.final_steps()) for d in run.duts)} steps recorded, "
        f"{n_meas} measurements ({n_failed_meas} out of limits).</p>",
        '<table class="summary"><tr><th>device</th><th>role</th><th>EUI-64</th><th>outcome</th>'
        f"{head_cells}</tr>{''.join(summary_rows)}</table>",
        f"<h3>Not passed</h3><ul>{reasons}</ul>" if reasons else "",
        "<h2>Plots</h2>",
        plots(run, ota_limit_bps, alerts),
        *(_dut_section(d, missing_by_dut.get(d.id, [])) for d in run.duts),
        "<footer><p>Generated by hanrig from the results store; self-contained, no external resources."
        "</p></footer>",
        "</body></html>",
        "",
    ])

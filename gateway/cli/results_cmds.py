"""``hanrig results``: list, show and export runs from the results store (contract: shared cli.md).

The store is a results directory (SQLite inside) or a database URL, from ``--results`` or the
environment (HANRIG_RESULTS), defaulting to ``hanrig-results`` as ``hanrig rig run`` does.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from rigs.exceptions import RunNotPassed
from rigs.records import RunOutcome, RunRecord, RunStatus, iso
from rigs.reports import html_report, junit_xml, run_document, write_evidence_pack
from rigs.reports.pdf import pdf_from_html
from rigs.rigfile import DEFAULT_RESULTS
from rigs.store import RunSummary, Store, atomic_write, open_store

from .common import emit, json_option

results_option = click.option(
    "--results", "results", envvar="HANRIG_RESULTS", default=DEFAULT_RESULTS, show_default=True,
    metavar="DIR_OR_URL",
    help="Results directory (SQLite inside), sqlite:///path or postgresql://USER@HOST/DB "
         "(env HANRIG_RESULTS).")


def _open(results: str) -> Store:
    return open_store(results, create=False)


@click.group()
def results() -> None:
    """Runs in the results store: list them, show one, export its reports."""


def _summary_doc(s: RunSummary) -> dict[str, Any]:
    return {"run_id": s.run_id, "rig_name": s.rig_name, "start_time": iso(s.start), "end_time": iso(s.end),
            "status": str(s.status), "outcome": str(s.outcome) if s.outcome else None, "host": s.host,
            "operator": s.operator, "attempts": s.attempts, "duts": s.duts,
            "steps": dict(sorted(s.steps.items()))}


def _render_list(doc: dict[str, Any]) -> str:
    if not doc["runs"]:
        return f"no runs in {doc['results']}"
    lines = [f"{'RUN':26} {'STARTED':24} {'STATUS':10} {'OUTCOME':8} {'DUTS':>4}  STEPS  RIG"]
    for r in doc["runs"]:
        steps = " ".join(f"{k}={v}" for k, v in r["steps"].items()) or "-"
        lines.append(f"{r['run_id']:26} {r['start_time']:24} {r['status']:10} {r['outcome'] or '-':8} "
                     f"{r['duts']:>4}  {steps}  {r['rig_name']}")
    return "\n".join(lines)


@results.command("list")
@results_option
@click.option("--limit", type=click.IntRange(1), default=50, show_default=True,
              help="At most this many runs.")
@json_option
def list_cmd(results: str, limit: int, as_json: bool) -> None:
    """Recent runs, newest first (a run whose writer died shows as incomplete)."""
    with _open(results) as store:
        doc = {"results": store.url, "runs": [_summary_doc(s) for s in store.list_runs(limit)]}
    emit(doc, as_json, _render_list)


def _show_doc(run: RunRecord) -> dict[str, Any]:
    doc = run_document(run)
    for dut in doc["duts"]:
        dut["event_counts"] = _count_kinds(dut.pop("events"))
    doc["event_counts"] = _count_kinds(doc.pop("events"))
    doc.pop("rig_snapshot")
    return doc


def _count_kinds(events: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for event in events:
        counts[event["kind"]] = counts.get(event["kind"], 0) + 1
    return counts


def _render_show(doc: dict[str, Any]) -> str:
    run = doc["run"]
    lines = [f"run {run['run_id']}  rig {run['rig_name']}  {run['status']}  outcome {run['outcome'] or '-'}",
             f"  started {run['start_time']}  ended {run['end_time'] or '-'}  attempts {run['attempts']}",
             f"  host {run['host']}  operator {run['operator']}  "
             + " ".join(f"{k} {v}" for k, v in sorted(run["versions"].items()))]
    for detail in run["outcome_details"]:
        lines.append(f"  {detail['code']}: {detail['description']}")
    for dut in doc["duts"]:
        fw = dut["firmware_before"] or "-"
        if dut["firmware_after"]:
            fw += f" -> {dut['firmware_after']}"
        lines.append(f"{dut['id']:8} {dut['role']:6} {dut['eui64']}  {dut['outcome']:7}  fw {fw}")
        latest: dict[int, dict[str, Any]] = {}
        for step in dut["steps"]:
            if step["index"] not in latest or step["attempt"] >= latest[step["index"]]["attempt"]:
                latest[step["index"]] = step
        for index in sorted(latest):
            step = latest[index]
            why = [f"{d['code']}: {d['description']}" for d in step["details"]]
            why += [f"{m['name']} = {m['value']!r} {m['units']} (limits {m['limits']})".replace("  ", " ")
                    for m in step["measurements"] if m["outcome"] == "FAIL"]
            retry = f" (attempt {step['attempt']})" if step["attempt"] > 1 else ""
            outcome = step["outcome"] or "running"
            line = f"    {index:02d} {step['name']:12} {outcome:8}{retry}  {'; '.join(why)}"
            lines.append(line.rstrip())
    return "\n".join(lines)


@results.command("show")
@click.argument("run_id")
@results_option
@click.option("--check", is_flag=True, help="Exit 1 unless the run finished with PASS.")
@json_option
def show_cmd(run_id: str, results: str, check: bool, as_json: bool) -> None:
    """One run: its DUTs, every step's outcome and why (RUN_ID may be a unique prefix)."""
    with _open(results) as store:
        run = store.load_run(run_id)
    emit(_show_doc(run), as_json, _render_show)
    if check and not (run.status is RunStatus.FINISHED and run.outcome is RunOutcome.PASS):
        raise RunNotPassed(run.run_id, f"{run.status}, outcome {run.outcome or 'none'}")


EXPORTERS: dict[str, Callable[[RunRecord, float | None], bytes]] = {
    "json": lambda run, _limit: (json.dumps(run_document(run), indent=2, default=str) + "\n").encode(),
    "junit": lambda run, _limit: junit_xml(run),
    "html": lambda run, limit: html_report(run, ota_limit_bps=limit).encode(),
    "pdf": lambda run, limit: pdf_from_html(html_report(run, ota_limit_bps=limit)),
}


@results.command("export")
@click.argument("run_id")
@click.option("--format", "fmt", type=click.Choice([*EXPORTERS, "evidence"]), required=True,
              help="json: the whole run record; junit: JUnit XML; html: the report; pdf: the report "
                   "printed on A4 by headless Chromium; evidence: CPL packs (-o DIR).")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None,
              help="Write here (a directory for evidence); default stdout.")
@click.option("--ota-limit", "ota_limit", type=click.FloatRange(min=0, min_open=True), default=None,
              metavar="BYTES_PER_S", help="Modelled OTA throughput limit drawn on the HTML plot.")
@results_option
def export_cmd(run_id: str, fmt: str, output: Path | None, ota_limit: float | None, results: str) -> None:
    """Export one run's record or reports."""
    with _open(results) as store:
        run = store.load_run(run_id)
    if fmt == "evidence":
        if output is None:
            raise click.UsageError("--format evidence needs -o DIR")
        for dut in run.duts:
            click.echo(str(write_evidence_pack(run, dut, output)), err=True)
        return
    data = EXPORTERS[fmt](run, ota_limit)
    if output is None:
        click.echo(data, nl=False)  # bytes go to the binary stdout untouched
    else:
        atomic_write(output, data)
        click.echo(f"wrote {output}", err=True)

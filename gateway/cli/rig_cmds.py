"""``hanrig rig run``: run a rig file's plan (or, with no file, the built-in simulated bench) and write
its results store and reports (contract: shared ``cli.md``; the runner is ``rigs.runner``).

Exit codes: 0 every DUT passed; 1 a DUT failed, erred or timed out (the run is stored either way);
2 a malformed rig file or a failed output (a result that was not written); 3 a radio of the rig could
not be opened; 130 interrupted (Ctrl-C), with the run stored as ABORTED and resumable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .common import capture_option, emit, json_option, place_wait_option


@click.group()
def rig() -> None:
    """Run test plans against a bench of devices (rig files, results store, reports)."""


def _render(document: dict[str, Any]) -> str:
    lines = [f"run {document['run_id']} ({document['rig']}, attempt {document['attempt']}): "
             f"{document['outcome']}"]
    for dut in document["duts"]:
        steps = " ".join(f"{s['name']}={s['outcome']}" for s in dut["steps"]) or "nothing ran"
        lines.append(f"  {dut['id']:<10} {dut['role']:<7} {dut['eui64']}  {dut['outcome']:<8} {steps}")
        lines += [f"      {s['name']}: {s['summary']}" for s in dut["steps"] if s["summary"]]
    lines += [f"  {d['code']}: {d['description']}" for d in document["details"]]
    lines.append(f"results: {document['results']}")
    lines += [f"output: {name}" for name in document["outputs"][1:]]
    return "\n".join(lines)


@rig.command("run")
@click.argument("rig_file", metavar="[RIG.toml]", required=False,
                type=click.Path(dir_okay=False, path_type=Path))
@click.option("--results", envvar="HANRIG_RESULTS", metavar="DIR_OR_URL",
              help="Results directory (SQLite inside), sqlite:///path or postgresql://USER@HOST/DB "
                   "(default: the rig's [results] url / [outputs] results, else hanrig-results; "
                   "env HANRIG_RESULTS).")
@click.option("--junit", type=click.Path(dir_okay=False, path_type=Path), help="Also write JUnit XML here.")
@click.option("--html", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the HTML report here.")
@click.option("--resume", "resume", metavar="RUN_ID",
              help="Re-run only what did not pass in this run (id or unique prefix) of the same rig.")
@click.option("--operator", metavar="NAME", help="Who runs the bench (default: the login name); the report's "
              "sign-off names them.")
@click.option("--serial", "serials", multiple=True, metavar="DEVICE=SERIAL",
              help="A DUT's serial number, by the rig's device id (repeatable).")
@click.option("--ask", is_flag=True,
              help="Ask for the operator's name and each DUT's serial number before the run starts.")
@click.option("--allow-test-keys", is_flag=True,
              help="Let images signed with the published TEST-ONLY key go to real radios (recorded).")
@place_wait_option
@capture_option
@json_option
def run(rig_file: Path | None, results: str | None, junit: Path | None, html: Path | None,
        resume: str | None, operator: str | None, serials: tuple[str, ...], ask: bool, allow_test_keys: bool,
        as_json: bool) -> None:
    """Run RIG.toml's plan; with no file, the built-in simulated bench (every step, on simulated time)."""
    from rigs.exceptions import RunNotPassed
    from rigs.records import RunOutcome
    from rigs.rigfile import default_rig, load_rig
    from rigs.runner import RunOptions, run_rig

    loaded = load_rig(rig_file) if rig_file is not None else default_rig(base_dir=Path.cwd())
    known = [d.id for d in loaded.devices]
    by_device: dict[str, str] = {}
    for item in serials:
        device, sep, serial = item.partition("=")
        if not sep or not serial.strip():
            raise click.BadParameter(f"{item!r} is not DEVICE=SERIAL", param_hint="--serial")
        if device not in known:
            raise click.BadParameter(f"{device!r} is not a device of the rig ({', '.join(known)})",
                                     param_hint="--serial")
        by_device[device] = serial.strip()
    if ask:  # on stderr, so --json's stdout stays one document
        operator = operator or click.prompt("operator name", default=loaded.operator, err=True)
        from_rig = {d.id: d.serial for d in loaded.devices if d.serial}
        for device in known:
            if device not in by_device and device not in from_rig:
                answer = click.prompt(f"serial number of {device} (empty: none)", default="", err=True,
                                      show_default=False)
                if answer.strip():
                    by_device[device] = answer.strip()
    result = run_rig(loaded, RunOptions(results=results, junit=junit, html=html, resume=resume,
                                        operator=operator, serials=by_device,
                                        allow_test_keys=allow_test_keys))
    document = result.summary()
    emit(document, as_json, _render)
    if result.outcome is not RunOutcome.PASS:
        failed = [d["id"] for d in document["duts"] if d["outcome"] not in ("PASS", "SKIPPED")]
        raise RunNotPassed(document["run_id"], f"{document['outcome']} (DUTs not passing: "
                                               f"{', '.join(failed) or 'none'})")

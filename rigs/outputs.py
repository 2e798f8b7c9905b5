"""Output callbacks: each takes the finished ``RunRecord`` and writes one result somewhere.

The store, the JSON test records, JUnit XML, the HTML report and the evidence packs are all
callbacks (OpenHTF's pattern). ``run_outputs`` runs every one of them even when one fails, then
raises ``OutputError`` naming each failure, so a result that was not written makes the run exit
non-zero instead of being only logged. Files are written atomically beside their target.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType

from gateway.alerts import AlertPolicy
from hanrig_errors import HanrigError

from .exceptions import OutputError
from .records import RunRecord
from .rigfile import Outputs
from .store import Store, atomic_write, contained_path, open_store

LOGGER = logging.getLogger(__name__)

OutputCallback = Callable[[RunRecord], None]


def reports() -> ModuleType:
    """``rigs.reports``, imported when a report is first written: it brings jinja2 and the HTML and
    XML machinery, which a run that only records to the store (the default) never needs."""
    from . import reports as module

    return module


class JsonRecordsOutput:
    """One JSON test record per DUT: ``<directory>/<run id>/<dut id>.json``."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)

    def __call__(self, run: RunRecord) -> None:
        for dut in run.duts:
            doc = reports().dut_test_record(run, dut)
            atomic_write(contained_path(self.directory, run.run_id, f"{dut.id}.json"),
                         (json.dumps(doc, indent=2, default=str) + "\n").encode())


class JunitOutput:
    """JUnit XML of the run, one testcase per DUT x step."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def __call__(self, run: RunRecord) -> None:
        atomic_write(self.path, reports().junit_xml(run))


class HtmlReportOutput:
    """The self-contained HTML report; ``ota_limit_bps`` is the modelled OTA limit to plot against."""

    def __init__(self, path: Path, ota_limit_bps: float | None = None, alerts: AlertPolicy | None = None):
        self.path = Path(path)
        self.ota_limit_bps = ota_limit_bps
        self.alerts = alerts

    def __call__(self, run: RunRecord) -> None:
        report = reports().html_report(run, ota_limit_bps=self.ota_limit_bps, alerts=self.alerts)
        atomic_write(self.path, report.encode())


class EvidencePackOutput:
    """An evidence pack per DUT under ``<directory>/<dut id>/``."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)

    def __call__(self, run: RunRecord) -> None:
        for dut in run.duts:
            reports().write_evidence_pack(run, dut, self.directory)


def outputs_for(outputs: Outputs, store: Store | None = None, *,
                ota_limit_bps: float | None = None,
                alerts: AlertPolicy | None = None) -> list[tuple[str, OutputCallback]]:
    """The callbacks a rig's ``[outputs]`` asks for, the store first."""
    callbacks: list[tuple[str, OutputCallback]] = []
    if store is None:
        store = open_store(outputs.results)
    callbacks.append((f"store {store.url}", store))
    if outputs.json_dir is not None:
        callbacks.append((f"json {outputs.json_dir}", JsonRecordsOutput(outputs.json_dir)))
    if outputs.junit is not None:
        callbacks.append((f"junit {outputs.junit}", JunitOutput(outputs.junit)))
    if outputs.html is not None:
        callbacks.append((f"html {outputs.html}", HtmlReportOutput(outputs.html, ota_limit_bps, alerts)))
    if outputs.evidence_dir is not None:
        callbacks.append((f"evidence {outputs.evidence_dir}", EvidencePackOutput(outputs.evidence_dir)))
    return callbacks


def run_outputs(run: RunRecord, callbacks: Iterable[tuple[str, OutputCallback]]) -> None:
    """Give the finished record to every callback; raise ``OutputError`` if any of them failed."""
    failures: list[tuple[str, str]] = []
    for name, callback in callbacks:
        try:
            callback(run)
        except (OSError, HanrigError, ValueError) as exc:
            # Logged with the traceback for --debug; the run still fails through OutputError below.
            LOGGER.debug("output %s failed", name, exc_info=True)
            why = f"{exc.filename}: {exc.strerror}" if isinstance(exc, OSError) and exc.filename else str(exc)
            failures.append((name, why))
    if failures:
        raise OutputError(failures)

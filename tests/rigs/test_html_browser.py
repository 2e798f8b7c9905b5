"""The HTML report in a real browser: headless Chromium renders it with no console errors.

Skipped with a clear reason when no Chromium is installed (CI installs Debian's ``chromium``).
Chromium logs every console message (errors, CSP violations, uncaught exceptions) as a CONSOLE line
on stderr; a canary page proves that detection works before the report is judged by it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from rigs.reports import html_report

CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium is not installed (apt-get install -y chromium); HTML browser check skipped")

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0"]
CONSOLE = re.compile(r":CONSOLE[:(]\d*\)?\]? (.*)")


def chromium(page: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *extra, page.as_uri()],
                          capture_output=True, text=True, timeout=90, check=False)


def console_messages(stderr: str) -> list[str]:
    return [m.group(1) for m in map(CONSOLE.search, stderr.splitlines()) if m]


def test_console_detection_catches_errors(tmp_path):
    canary = tmp_path / "canary.html"
    canary.write_text('<!DOCTYPE html><html><body><p>x</p><script>console.error("canary-error");'
                      "undefinedFunction();</script></body></html>")
    proc = chromium(canary, tmp_path / "profile", "--dump-dom")
    assert proc.returncode == 0, proc.stderr[-2000:]
    messages = console_messages(proc.stderr)
    assert any("canary-error" in m for m in messages), proc.stderr[-2000:]
    assert any("undefinedFunction" in m for m in messages)


class DutCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.duts: list[str] = []
        self.svgs = 0

    def handle_starttag(self, tag, attrs):
        self.svgs += tag == "svg"
        self.duts += [v for k, v in attrs if k == "data-dut"]


def test_report_renders_in_headless_chromium(tmp_path, make_run, bench):
    run = make_run(bench, fail_ota_on="ppmid", error_on="gsme")
    report = tmp_path / "report.html"
    report.write_text(html_report(run, ota_limit_bps=1200.0))

    shot = tmp_path / "report.png"
    proc = chromium(report, tmp_path / "profile-shot", f"--screenshot={shot}", "--window-size=1280,3000")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert shot.exists() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
    assert console_messages(proc.stderr) == []

    proc = chromium(report, tmp_path / "profile-dom", "--dump-dom")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert console_messages(proc.stderr) == []
    dom = DutCollector()
    dom.feed(proc.stdout)
    assert dom.duts == [d.id for d in run.duts]
    assert dom.svgs == 3
    for dut in run.duts:
        assert dut.eui64 in proc.stdout

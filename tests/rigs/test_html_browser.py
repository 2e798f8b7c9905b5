"""The HTML report in a real browser: headless Chromium renders it with no console errors.

Skipped with a clear reason when no Chromium is installed (CI installs Debian's ``chromium``).
Chromium logs every console message (errors, CSP violations, uncaught exceptions) as a CONSOLE line
on stderr; a canary page proves that detection works before the report is judged by it.
"""

from __future__ import annotations

import itertools
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


# The report's layout, measured by Chromium in a copy of the report with a measuring script added (the
# report itself allows no script): nothing wider than the page, the charts inside their figures and
# clear of each other, the conditions banner first, then the devices, coverage, results and sign-off.
LAYOUT_PROBE = """<script>
const box = e => e.getBoundingClientRect();
const out = {width: document.documentElement.clientWidth, scroll: document.documentElement.scrollWidth};
const plots = [...document.querySelectorAll('figure.plot')];
out.plots = plots.map(f => { const s = box(f.querySelector('svg')), o = box(f);
  return {inside: s.left >= o.left - 1 && s.right <= o.right + 1, top: o.top, bottom: o.bottom,
          w: s.width}; });
out.order = ['.conditions', '#identity', '#coverage', '#plots', '#results', '#signoff']
  .map(q => document.querySelector(q)).map(e => e ? box(e).top : null);
out.wide = [...document.querySelectorAll('table, svg, .banner')]
  .filter(e => box(e).right > out.width + 1).map(e => e.className.baseVal ?? e.className);
const pre = document.createElement('pre'); pre.id = 'layout'; pre.textContent = JSON.stringify(out);
document.body.appendChild(pre);
</script>"""


def pgm_pages(pdf: Path, out: Path) -> list[tuple[int, int, bytes]]:
    """Each page of ``pdf`` rendered by poppler to greyscale pixels: (width, height, pixels)."""
    subprocess.run([PDFTOPPM, "-gray", "-r", "40", str(pdf), str(out)], check=True, timeout=60)
    pages = []
    for path in sorted(out.parent.glob(out.name + "-*.pgm")):
        data = path.read_bytes()
        magic, width, height, maxval, pixels = data.split(maxsplit=4)
        assert magic == b"P5" and maxval == b"255"
        pages.append((int(width), int(height), pixels[: int(width) * int(height)]))
    return pages


PDFTOPPM = shutil.which("pdftoppm")


@pytest.mark.parametrize("width", [1280, 900])
def test_report_layout_in_chromium(tmp_path, make_run, bench, width):
    import json

    run = make_run(bench, fail_ota_on="ppmid")
    text = html_report(run, ota_limit_bps=1200.0)
    probe = tmp_path / "probe.html"
    probe.write_text(re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", text)
                     .replace("</body>", LAYOUT_PROBE + "</body>"))
    proc = chromium(probe, tmp_path / "profile", "--dump-dom", f"--window-size={width},2000")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert console_messages(proc.stderr) == []
    layout = json.loads(re.search(r'<pre id="layout">(.*?)</pre>', proc.stdout, re.S).group(1)
                        .replace("&quot;", '"').replace("&amp;", "&"))
    assert layout["scroll"] <= layout["width"] + 1 and layout["wide"] == [], layout
    assert len(layout["plots"]) == 3 and all(p["inside"] and p["w"] > 300 for p in layout["plots"])
    for upper, lower in itertools.pairwise(layout["plots"]):
        assert upper["bottom"] <= lower["top"] + 1  # stacked, never on top of each other
    assert None not in layout["order"] and layout["order"] == sorted(layout["order"])


@pytest.mark.skipif(PDFTOPPM is None, reason="poppler-utils is not installed; the PDF check is skipped")
def test_report_prints_to_a4_pages_with_nothing_in_the_margins(tmp_path, make_run, bench):
    run = make_run(bench, fail_ota_on="ppmid")
    from rigs.reports.pdf import pdf_from_html

    pdf = tmp_path / "report.pdf"  # what `hanrig results export --format pdf` writes
    pdf.write_bytes(pdf_from_html(html_report(run, ota_limit_bps=1200.0)))
    assert pdf.read_bytes()[:5] == b"%PDF-"
    pages = pgm_pages(pdf, tmp_path / "page")
    assert 2 <= len(pages) <= 12
    for width, height, pixels in pages:
        assert abs(width / height - 210 / 297) < 0.01  # A4 portrait
        margin = int(width * 10 / 210)  # the stylesheet leaves 12 mm; nothing may reach the last 10 mm
        for row in range(height):
            line = pixels[row * width:(row + 1) * width]
            assert min(line[:margin]) > 200 and min(line[-margin:]) > 200, f"content in the margin, row {row}"
    first = pages[0][2]
    assert sum(p < 128 for p in first) > 2000  # the first page has text on it, not a blank sheet

"""The HTML report as a PDF: Chromium (headless) prints it with the report's A4 print stylesheet.

A browser is the one renderer that lays the report out as it is meant to look; Debian's ``chromium``
package provides it (``.ci/run`` installs it). Without one, the export says so in one line.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from hanrig_errors import BadInput

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
PRINT_TIMEOUT_S = 120.0


class NoBrowser(BadInput):
    """No Chromium to print the report with."""


def find_browser() -> str:
    browser = next(filter(None, map(shutil.which, BROWSERS)), None)
    if browser is None:
        raise NoBrowser("pdf export: no Chromium found (apt-get install chromium); export --format html "
                        "and print it instead")
    return browser


def pdf_from_html(html: str) -> bytes:
    """Print ``html`` (a self-contained page) to PDF with headless Chromium; A4 from the page's CSS."""
    browser = find_browser()
    with tempfile.TemporaryDirectory(prefix="hanrig-pdf-") as work:
        page, pdf = Path(work) / "report.html", Path(work) / "report.pdf"
        page.write_text(html, encoding="utf-8")
        proc = subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={Path(work) / 'profile'}", "--no-pdf-header-footer", f"--print-to-pdf={pdf}",
             page.as_uri()], capture_output=True, text=True, timeout=PRINT_TIMEOUT_S, check=False)
        if proc.returncode != 0 or not pdf.is_file():
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise BadInput(f"pdf export: {Path(browser).name} could not print the report: {last}")
        return pdf.read_bytes()

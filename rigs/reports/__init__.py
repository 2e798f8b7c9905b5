"""Reports made from a finished ``RunRecord``: JSON test records, JUnit XML, HTML, evidence packs."""

from __future__ import annotations

from .evidence import evidence_document, evidence_html, write_evidence_pack
from .html import gas_points, html_report, ota_throughput
from .jsonrec import dut_test_record, run_document
from .junit import junit_xml

__all__ = [
    "dut_test_record",
    "evidence_document",
    "evidence_html",
    "gas_points",
    "html_report",
    "junit_xml",
    "ota_throughput",
    "run_document",
    "write_evidence_pack",
]

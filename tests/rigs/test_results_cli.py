"""``hanrig results list|show|export`` end to end on SQLite and PostgreSQL: output, --json, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
import xmlschema
from rigs_testlib import JUNIT_XSD, check_self_contained

from gateway.cli import main
from rigs.store import open_store


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(args)
    out, err = capsys.readouterr()
    return int(info.value.code), out, err


@pytest.fixture
def results(store_target, make_run, bench):
    """A results store with a passing run, a failing run and one left incomplete."""
    with open_store(store_target) as store:
        ok = make_run(bench)
        ok.run_id = "20260921T100000-aaaa0001"
        store(ok)
        bad = make_run(bench, fail_ota_on="ppmid")
        bad.run_id, bad.start = "20260921T110000-bbbb0002", bad.start + 3600
        store(bad)
        dead = make_run(bench, stop_after=3)
        dead.run_id, dead.start = "20260921T120000-cccc0003", dead.start + 7200
        store.begin_run(dead)
        for step in dead.duts[0].steps:
            store.record_step(dead.run_id, step)
    # the store closed without finishing the dead run: its writer is gone, so the run is incomplete
    return store_target


def test_list_json(results, capsys):
    code, out, err = run_cli(["results", "list", "--results", str(results), "--json"], capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert [(r["run_id"][-4:], r["status"], r["outcome"]) for r in doc["runs"]] == [
        ("0003", "incomplete", None), ("0002", "finished", "FAIL"), ("0001", "finished", "PASS")]
    assert doc["runs"][1]["steps"] == {"FAIL": 1, "PASS": 33}  # the default plan's 34 steps
    assert doc["runs"][0]["start_time"].endswith("Z")


def test_list_text_and_env(results, capsys, monkeypatch):
    monkeypatch.setenv("HANRIG_RESULTS", str(results))
    code, out, _ = run_cli(["results", "list"], capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("RUN") and len(lines) == 4
    assert "incomplete" in lines[1] and "FAIL" in lines[2]


def test_show_text_and_json(results, capsys):
    code, out, _ = run_cli(["results", "show", "20260921T11", "--results", str(results)], capsys)
    assert code == 0
    assert "outcome FAIL" in out
    assert "ota_throughput = 32.0 B/s (limits x >= 500)" in out
    code, out, _ = run_cli(["results", "show", "20260921T11", "--results", str(results), "--json"], capsys)
    doc = json.loads(out)
    assert doc["run"]["outcome"] == "FAIL"
    ppmid = next(d for d in doc["duts"] if d["id"] == "ppmid")
    assert ppmid["outcome"] == "FAIL" and ppmid["eui64"] == "00:0d:6f:00:0a:bc:00:04"
    assert ppmid["firmware_before"] == "0x00010000" and ppmid["firmware_before_int"] == 0x10000
    assert ppmid["event_counts"]["ota_progress"] == 17


@pytest.mark.parametrize("run_id,code", [("20260921T10", 0), ("20260921T11", 1), ("20260921T12", 1)])
def test_show_check_exit_codes(results, capsys, run_id, code):
    got, _, err = run_cli(["results", "show", run_id, "--results", str(results), "--check"], capsys)
    assert got == code
    if code:
        assert err.startswith("hanrig: error: run 20260921") and "Traceback" not in err


def test_export_junit_html_json_to_stdout_and_files(results, tmp_path, capsys):
    code, out, _ = run_cli(["results", "export", "20260921T11", "--format", "junit",
                            "--results", str(results)], capsys)
    assert code == 0
    xmlschema.XMLSchema(JUNIT_XSD).validate(out)
    assert ET.fromstring(out).get("failures") == "1"

    target = tmp_path / "report.html"
    code, _, err = run_cli(["results", "export", "20260921T11", "--format", "html", "-o", str(target),
                            "--ota-limit", "1500", "--results", str(results)], capsys)
    assert code == 0 and "wrote" in err
    text = target.read_text()
    check_self_contained(text)
    assert "modelled limit 1500 B/s" in text

    code, out, _ = run_cli(["results", "export", "20260921T10", "--format", "json",
                            "--results", str(results)], capsys)
    doc = json.loads(out)
    assert doc["schema"] == "hanrig.run-record/1" and len(doc["duts"]) == 5

    code, _, _ = run_cli(["results", "export", "20260921T10", "--format", "evidence", "-o",
                          str(tmp_path / "ev"), "--results", str(results)], capsys)
    assert code == 0 and (tmp_path / "ev" / "ihd" / "evidence.json").exists()


def test_export_pdf_or_a_one_line_error_without_a_browser(results, tmp_path, capsys, monkeypatch):
    import shutil

    target = tmp_path / "report.pdf"
    if shutil.which("chromium"):
        code, _, err = run_cli(["results", "export", "20260921T11", "--format", "pdf", "-o", str(target),
                                "--results", str(results)], capsys)
        assert code == 0 and target.read_bytes()[:5] == b"%PDF-", err
    monkeypatch.setattr(shutil, "which", lambda name: None)
    code, _, err = run_cli(["results", "export", "20260921T11", "--format", "pdf", "-o",
                            str(tmp_path / "x.pdf"), "--results", str(results)], capsys)
    assert code == 2 and "pdf export: no Chromium found" in err and "Traceback" not in err


@pytest.mark.parametrize("args,words", [
    (["results", "show", "nope"], "run nope: no such run in the results store"),
    (["results", "show", "2026"], "ambiguous prefix"),
    (["results", "export", "20260921T10", "--format", "evidence"], "needs -o DIR"),
    (["results", "export", "20260921T10", "--format", "docx"], "Invalid value for '--format'"),
])
def test_bad_input_exits_2(results, capsys, args, words):
    code, _, err = run_cli([*args, "--results", str(results)], capsys)
    assert code == 2
    assert words in err and "Traceback" not in err


def test_missing_store_and_postgres_exit_2(tmp_path, capsys):
    code, _, err = run_cli(["results", "list", "--results", str(tmp_path / "none")], capsys)
    assert code == 2 and "no results store there" in err
    assert not (tmp_path / "none").exists()  # reading never creates a store
    code, _, err = run_cli(["results", "list", "--results", "postgresql://u:pw@127.0.0.1:1/x"], capsys)
    assert code == 2 and "cannot connect to the results database" in err and ":pw@" not in err


def test_an_empty_postgres_database_is_no_store(postgres_url, capsys):
    code, _, err = run_cli(["results", "list", "--results", postgres_url], capsys)
    assert code == 2 and "no results store there (no hanrig tables)" in err


def test_console_script_in_a_subprocess(results):
    proc = subprocess.run([sys.executable, "-c", "from gateway.cli import main; main()", "results", "list",
                           "--results", str(results), "--json"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)["runs"]) == 3

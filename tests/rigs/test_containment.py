"""Nothing read from a results store can make an export write or read outside its directory (issue 15).

Attachments are stored by content id (``attachments/<sha256>``) and read back by it; a path column
edited to point elsewhere is refused. Stored run and DUT ids (``..``, ``../../x``, slashes) never steer
where an evidence pack or a JSON record is written.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

import pytest

from gateway.cli import main
from rigs.exceptions import StoreError
from rigs.outputs import JsonRecordsOutput
from rigs.reports import write_evidence_pack
from rigs.store import DB_FILENAME, INLINE_ATTACHMENT_MAX, T_ATT, contained_path, open_store, safe_name


def files_under(directory: Path) -> set[Path]:
    return {p for p in directory.rglob("*") if p.is_file()}


def test_large_attachments_are_stored_by_content_id(tmp_path, finished_run):
    big = os.urandom(INLINE_ATTACHMENT_MAX + 1)
    finished_run.dut("ihd").step("ota").attach("../../../escape.bin", "application/octet-stream", big)
    results = tmp_path / "results"
    with open_store(str(results)) as store:
        store(finished_run)
        loaded = store.load_run(finished_run.run_id)
    digest = hashlib.sha256(big).hexdigest()
    assert files_under(results / "attachments") == {results / "attachments" / digest}
    attachment = next(a for a in loaded.dut("ihd").step("ota").attachments if a.data is None)
    assert attachment.path == (results / "attachments" / digest).resolve() and attachment.read() == big
    assert not (tmp_path / "escape.bin").exists()


@pytest.mark.parametrize("planted", ["../../outside.bin", "/etc/hostname", "attachments/../results.db"])
def test_an_attachment_path_edited_to_point_outside_is_refused(tmp_path, finished_run, planted, capsys):
    finished_run.dut("ihd").step("ota").attach("trace.bin", "application/octet-stream",
                                                os.urandom(INLINE_ATTACHMENT_MAX + 1))
    results = tmp_path / "results"
    (tmp_path / "outside.bin").write_bytes(b"secret")
    with open_store(str(results)) as store:
        store(finished_run)
    with sqlite3.connect(results / DB_FILENAME) as db:  # what a tampered (or old, hostile) store holds
        db.execute(f"UPDATE {T_ATT} SET path = ?, sha256 = ? WHERE path IS NOT NULL", (planted, "../x"))
    with open_store(str(results)) as store, pytest.raises(StoreError, match="outside the store"):
        store.load_run(finished_run.run_id)
    out_dir = tmp_path / "packs"
    with pytest.raises(SystemExit) as info:
        main(["results", "export", finished_run.run_id, "--format", "evidence", "-o", str(out_dir),
              "--results", str(results)])
    assert info.value.code == 2
    assert "outside the store" in capsys.readouterr().err
    assert not out_dir.exists()


@pytest.mark.parametrize("hostile", ["..", ".", "../../escape", "a/../../b", "/abs", ".hidden"])
def test_stored_ids_never_steer_where_exports_write(tmp_path, finished_run, hostile):
    dut = finished_run.duts[0]
    dut.id = hostile
    for step in dut.steps:
        step.dut_id = hostile
    finished_run.run_id = hostile
    target = tmp_path / "out" / "deeper"
    target.mkdir(parents=True)
    pack = write_evidence_pack(finished_run, dut, target)
    JsonRecordsOutput(target)(finished_run)
    assert pack.resolve().is_relative_to(target.resolve()) and pack.resolve() != target.resolve()
    written = files_under(tmp_path)
    assert written and all(p.resolve().is_relative_to(target.resolve()) for p in written)


def test_safe_names_are_single_components():
    for name in ["..", ".", "../x", "a/b", "", "x" * 200, "é"]:
        safe = safe_name(name)
        assert safe and "/" not in safe and not safe.startswith(".") and len(safe) <= 80


def test_a_symlink_inside_the_target_cannot_lead_out(tmp_path):
    target = tmp_path / "target"
    target.mkdir()
    (target / "link").symlink_to(tmp_path)
    with pytest.raises(StoreError, match="outside"):
        contained_path(target, "link", "file.json")

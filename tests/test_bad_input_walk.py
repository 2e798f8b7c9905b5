"""Every ``hanrig`` command, fed bad input, answers in one line with a contract exit code (issue 15).

Bad files (garbage, empty, a directory, a FIFO, /dev/zero, a 2 GB sparse file, a missing path) go to
every file argument; bad radio URLs (a refused port, a port out of range, an unknown scheme, a rig
that is a FIFO) go to every command that opens a radio. Each must exit 0, 1, 2 or 3 (never 70), print
no traceback, never hang (a FIFO or /dev/zero read would), and with ``--json`` print the error as one
JSON document on stdout. A command added later without a row here fails ``test_the_walk_covers_...``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import click
import pytest

from gateway.cli import cli, main

ROOT = Path(__file__).resolve().parents[1]
IMAGE = ROOT / "firmware_images" / "TEST-ONLY-ihd-1234-0101-00010000.ota"
KEY = ROOT / "firmware_images" / "TEST-ONLY-supplier-signing-key.pem"
DEVICE = "00:0d:6f:00:0a:bc:00:03"
CONTRACT_CODES = {0, 1, 2, 3}
IDENTITY = ["--manufacturer", "0x1234", "--image-type", "1", "--file-version", "1"]

pytestmark = pytest.mark.timeout(60)


def refused_port() -> int:
    """A local TCP port nothing listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def bad(tmp_path_factory) -> dict[str, str]:
    base = tmp_path_factory.mktemp("bad")  # fresh per test: make-test-pki creates the missing path
    (base / "garbage.bin").write_bytes(b"garbage\x00\x01\xff" * 10)
    (base / "empty.bin").write_bytes(b"")
    (base / "dir").mkdir()
    os.mkfifo(base / "fifo")
    with open(base / "sparse.bin", "wb") as handle:
        handle.truncate(2 * 1024**3)  # 2 GB, no blocks: must be refused by size, never read
    return {"garbage": str(base / "garbage.bin"), "empty": str(base / "empty.bin"), "dir": str(base / "dir"),
            "fifo": str(base / "fifo"), "zero": "/dev/zero", "sparse": str(base / "sparse.bin"),
            "missing": str(base / "missing.bin")}


# command path -> argument lists with {f} where a bad file (or directory) goes
FILE_WALK: dict[str, list[list[str]]] = {
    "ota inspect": [["{f}"]],
    "ota verify": [["{f}"], [str(IMAGE), "--pubkey", "{f}"]],
    "ota build": [["{f}", "-o", "{out}", *IDENTITY],
                  [str(IMAGE), "-o", "{out}", *IDENTITY, "--sign-key", "{f}"]],
    "ota sign": [["{f}", "--key", str(KEY), "-o", "{out}"], [str(IMAGE), "--key", "{f}", "-o", "{out}"]],
    "ota index": [["{f}", "--output", "{out}"]],
    "certs inspect": [["{f}"]],
    "certs verify": [["--cert-dir", "{f}"]],
    "certs make-test-pki": [["{f}"]],
    "rig run": [["{f}", "--results", "{out}"]],
    "sim stick": [["--rig", "{f}"]],
    "results list": [["--results", "{f}"]],
    "results show": [["x", "--results", "{f}"]],
    "results export": [["x", "--format", "json", "--results", "{f}"]],
    "gbcs inspect": [["{f}"]],
    "certs check-update": [["{f}"], ["{f}", "--rig", "{f}"]],
    "network restore": [["{f}", "--radio", "sim://", "--yes"]],
}
DIRECTORY_ARGS = {"ota index", "certs verify", "certs make-test-pki"}  # there a directory is the right kind
RADIO_WALK: dict[str, list[str]] = {
    "radio info": [],
    "devices": [],
    "gas read": [],
    "alerts watch": ["--for", "1"],
    "hcalcs set": ["--device", DEVICE, "--on"],
    "tenancy publish": ["--device", DEVICE, "--provider-id", "1"],
    "tenancy history": ["--device", DEVICE],
    "ota push": ["--all", "--image", str(IMAGE)],
    "ota activate": ["--device", DEVICE, "--hash", "00" * 32],
    "certs verify": ["--device", DEVICE],
    "network backup": ["{out}"],
    "network permit": ["--duration", "1"],
    "devices permit": ["--duration", "1"],
    "network scan": [],
    "network energy-scan": [],
    "network form": ["--yes"],
    "network reset": ["--yes"],
}
NO_JSON_OPTION = {"network backup", "network reset"}  # they print no document
NO_INPUT = {"radio list"}  # commands that take no input to spoil


def run(args: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(args)
    captured = capsys.readouterr()
    return int(info.value.code), captured.out, captured.err


def assert_clean(code: int, out: str, err: str, args: list[str], *, as_json: bool) -> None:
    assert code in CONTRACT_CODES, (args, code, err)
    assert "Traceback" not in err and "Traceback" not in out, (args, err)
    if code != 0:
        errors = [line for line in err.splitlines() if line.startswith("hanrig: error:")]
        assert len(errors) == 1, (args, err)
        if as_json:
            document = json.loads(out)
            assert document["exit"] == code and document["error"] in errors[0], (args, out)


def leaf_commands(group: click.Group, prefix: str = "") -> list[str]:
    found = []
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        path = f"{prefix}{name}"
        if isinstance(command, click.Group):
            found += leaf_commands(command, path + " ")
        else:
            found.append(path)
    return found


def test_the_walk_covers_every_command() -> None:
    walked = set(FILE_WALK) | set(RADIO_WALK) | NO_INPUT
    missing = [name for name in leaf_commands(cli) if name not in walked]
    assert not missing, f"add these commands to the bad-input walk: {missing}"


@pytest.mark.parametrize("kind", ["garbage", "empty", "dir", "fifo", "zero", "sparse", "missing"])
@pytest.mark.parametrize("command", sorted(FILE_WALK))
def test_every_file_argument_refuses_bad_files_cleanly(command, kind, bad, tmp_path, capsys) -> None:
    for template in FILE_WALK[command]:
        out_path = str(tmp_path / "out")
        args = [*command.split(), *[a.format(f=bad[kind], out=out_path) for a in template], "--json"]
        if command == "sim stick" and kind in ("garbage", "empty"):
            continue  # a readable rig file of any content is not refused before the stick starts serving
        code, out, err = run(args, capsys)
        assert_clean(code, out, err, args, as_json=True)
        refused = {"fifo", "zero", "sparse", "missing"} | (set() if command in DIRECTORY_ARGS else {"dir"})
        if command == "certs make-test-pki":
            refused -= {"missing"}  # an output directory it creates
        if kind in refused:
            assert code == 2, (args, err)  # refused as bad input, before anything reads it


def bad_urls(bad: dict[str, str]) -> dict[str, tuple[str, int]]:
    return {
        "refused": (f"ezsp:socket://127.0.0.1:{refused_port()}", 3),
        "port-range": ("ezsp:socket://127.0.0.1:99999", 2),
        "port-zero": ("ezsp:socket://127.0.0.1:0", 2),
        "scheme": ("bogus://x", 2),
        "rig-fifo": (f"sim://?rig={bad['fifo']}", 2),
        "rig-dir": (f"sim://?rig={bad['dir']}", 2),
    }


@pytest.mark.parametrize("url_kind", ["refused", "port-range", "port-zero", "scheme", "rig-fifo", "rig-dir"])
@pytest.mark.parametrize("command", sorted(RADIO_WALK))
def test_every_radio_command_answers_a_bad_radio_with_its_code(command, url_kind, bad, tmp_path, capsys,
                                                                monkeypatch) -> None:
    monkeypatch.setenv("HANRIG_DATA_DIR", str(tmp_path / "data"))
    url, expected = bad_urls(bad)[url_kind]
    extra = [a.format(out=tmp_path / "out.json") for a in RADIO_WALK[command]]
    as_json = command not in NO_JSON_OPTION
    args = [*command.split(), "--radio", url, *extra, *(["--json"] if as_json else [])]
    code, out, err = run(args, capsys)
    assert_clean(code, out, err, args, as_json=as_json)
    assert code == expected, (args, err)


def test_usage_errors_are_one_line_with_a_pointer_to_help(capsys) -> None:
    code, out, err = run(["ota", "inspect"], capsys)
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [
        "hanrig: error: Missing argument 'FILE'. (see 'hanrig ota inspect --help')"]


@pytest.mark.parametrize("debug", [False, True])
def test_only_a_debug_run_shows_tracebacks(debug, tmp_path) -> None:
    args = [*(["--debug"] if debug else []), "radio", "info", "--radio", f"ezsp:socket://127.0.0.1:{refused_port()}"]
    proc = subprocess.run([sys.executable, "-c", f"from gateway.cli import main; main({args!r})"],
                          capture_output=True, text=True, timeout=60, check=False,
                          env={**os.environ, "HANRIG_DATA_DIR": str(tmp_path)})
    assert proc.returncode == 3
    assert ("Traceback" in proc.stderr) is debug
    if not debug:
        assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("hanrig: error: radio ezsp:socket://")


def test_the_traceback_filter_does_not_outlive_the_command(capsys):
    """main() drops tracebacks from log records while a command runs; an in-process caller (pytest, the
    plugin) must get its handlers back untouched, or its own log records lose their tracebacks."""
    import logging

    run(["radio", "list"], capsys)
    filters = [f for h in logging.getLogger().handlers for f in h.filters]
    assert not any(type(f).__name__ == "_NoTracebacks" for f in filters)

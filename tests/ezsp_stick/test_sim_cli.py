"""``hanrig sim stick`` as a user runs it: a separate process printing its pty path, driven by bellows'
own command line and by ``hanrig radio info``, stopped by SIGTERM; bad input is one line and exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.cli import main

BIN = Path(sys.executable).parent
RIG = """
[rig]
name = "stick-bench"

[[radios]]
id = "sim"
url = "sim://"
channel = 20
pan_id = "0x2b2b"

[[devices]]
id = "ihd"
role = "IHD"
eui64 = "00:0d:6f:00:0a:bc:00:03"
radio = "sim"
"""


def test_sim_stick_serves_until_sigterm_and_bellows_cli_reads_it(tmp_path, sim_stick) -> None:
    env = {**os.environ, "HANRIG_DATA_DIR": str(tmp_path)}
    rig = tmp_path / "rig.toml"
    rig.write_text(RIG)
    stick = sim_stick(env, "--rig", str(rig), "--baudrate", "115200")
    try:
        path = stick.first_line
        assert path.startswith("/dev/pts/"), path
        info = subprocess.run([str(BIN / "bellows"), "-d", path, "-b", "115200", "info"],
                              capture_output=True, text=True, timeout=30)
        assert info.returncode == 0, info.stdout + info.stderr
        assert "00:0d:6f:00:0a:bc:00:00" in info.stdout  # the default bench's coordinator EUI-64
        assert "Board name: virtual-ezsp-stick" in info.stdout
        # hanrig's own radio layer through the same port (bellows again, from another process)
        radio = subprocess.run([str(BIN / "hanrig"), "radio", "info", "--radio", f"ezsp:{path}", "--json"],
                               capture_output=True, text=True, timeout=60, env=env)
        assert radio.returncode == 0, radio.stderr
        described = json.loads(radio.stdout)
        assert described["ieee"] == "00:0d:6f:00:0a:bc:00:00"
        assert described["channel"] == 20 and described["pan_id"] == "0x2b2b"  # from the rig file
        assert described["model"] == "virtual-ezsp-stick" and described["network_state"] == "formed"
    finally:
        err = stick.stop()
    assert stick.proc.returncode == 0, err
    assert "1 devices" in err


def _run_in_process(args: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def test_sim_stick_rejects_an_unsupported_baud_rate_in_one_line(capsys) -> None:
    code, out, err = _run_in_process(["sim", "stick", "--baudrate", "1234"], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "baud rate 1234 not supported" in lines[0]
    assert out == ""


def test_sim_stick_reports_a_bad_rig_file_in_one_line(tmp_path, capsys) -> None:
    rig = tmp_path / "bad.toml"
    rig.write_text("[sim]\nseed = 1\nbogus = 2\n")
    code, _, err = _run_in_process(["sim", "stick", "--rig", str(rig)], capsys)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "bad.toml" in lines[0] and "bogus" in lines[0]


def test_sim_stick_reports_an_unwritable_trust_dir_in_one_line(tmp_path, capsys) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, out, err = _run_in_process(["sim", "stick", "--trust-dir", str(blocker / "trust")], capsys)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and f"--trust-dir {blocker / 'trust'}" in lines[0]
    assert out == ""  # refused before a port was opened


def test_sim_stick_over_tcp_as_ser2net_serves_a_stick(tmp_path, sim_stick) -> None:
    """``--tcp``: bellows' own CLI and hanrig open socket://HOST:PORT; one host holds the port at a time."""
    import socket

    env = {**os.environ, "HANRIG_DATA_DIR": str(tmp_path)}
    rig = tmp_path / "rig.toml"
    rig.write_text(RIG)
    stick = sim_stick(env, "--rig", str(rig), "--tcp", "127.0.0.1:0")
    try:
        url = stick.first_line
        assert url.startswith("socket://127.0.0.1:"), url
        info = subprocess.run([str(BIN / "bellows"), "-d", url, "info"], capture_output=True, text=True,
                              timeout=30)
        assert info.returncode == 0, info.stdout + info.stderr
        assert "00:0d:6f:00:0a:bc:00:00" in info.stdout and "Board name: virtual-ezsp-stick" in info.stdout
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as holder:
            holder.sendall(b"\x1a\xc0\x38\xbc\x7e")  # ASH RST: this host now holds the port
            with socket.create_connection(("127.0.0.1", port), timeout=5) as second:
                second.settimeout(5)
                assert second.recv(64) == b""  # closed at once, as ser2net refuses a busy port
            holder.settimeout(5)
            assert holder.recv(64)  # the holder's RST is answered (RSTACK)
        radio = subprocess.run([str(BIN / "hanrig"), "radio", "info", "--radio", url, "--json"],
                               capture_output=True, text=True, timeout=60, env=env)
        assert radio.returncode == 0, radio.stderr
        described = json.loads(radio.stdout)
        assert described["channel"] == 20 and described["network_state"] == "formed"
    finally:
        err = stick.stop()
    assert stick.proc.returncode == 0, err


def test_sim_stick_rejects_a_bad_tcp_address_in_one_line(capsys) -> None:
    code, out, err = _run_in_process(["sim", "stick", "--tcp", "localhost"], capsys)
    assert code == 2 and out == ""
    assert err.strip() == "hanrig: error: sim stick: --tcp 'localhost' is not HOST:PORT (e.g. 127.0.0.1:5555)"

"""The CLI's error-to-exit-code mapping (shared cli.md): one place, no tracebacks."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest

from gateway.cli import main
from gateway.cli.common import EUI64


def run_main(args: list[str]) -> int:
    with pytest.raises(SystemExit) as info:
        main(args)
    return int(info.value.code)


def test_version_exits_zero(capsys):
    assert run_main(["--version"]) == 0
    assert "hanrig" in capsys.readouterr().out


def test_unknown_command_is_usage_error(capsys):
    assert run_main(["no-such-command"]) == 2
    err = capsys.readouterr().err
    assert "No such command" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("text,expected", [
    ("000d6f000abc1234", "00:0d:6f:00:0a:bc:12:34"),
    ("00:0D:6F:00:0A:BC:12:34", "00:0d:6f:00:0a:bc:12:34"),
    ("00-0d-6f-00-0a-bc-12-34", "00:0d:6f:00:0a:bc:12:34"),
])
def test_eui64_param_accepts_common_spellings(text, expected):
    assert EUI64.convert(text, None, None) == expected


@pytest.mark.parametrize("text", ["", "00:0d", "zz0d6f000abc1234", "000d6f000abc123456"])
def test_eui64_param_rejects_bad_values(text):
    with pytest.raises(click.BadParameter):
        EUI64.convert(text, None, None)


def test_console_script_runs():
    proc = subprocess.run([sys.executable, "-c", "from gateway.cli import main; main(['--help'])"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "hanrig" in proc.stdout

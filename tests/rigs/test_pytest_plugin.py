"""The pytest plugin's rig option and ``hardware`` marker, in a separate pytest process."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from rigs.rigfile import EXAMPLES_DIR

TESTS = '''
import pytest

@pytest.mark.hardware
def test_needs_a_stick():
    pass

def test_plain():
    pass
'''


def pytest_run(tmp_path: Path, *args: str, env: dict[str, str] | None = None, tests: str = TESTS,
               autoload: bool = False) -> tuple[int, str, dict[str, str]]:
    """Run pytest on ``tests`` in a fresh process; returns exit code, output and outcome per test.

    Without ``autoload`` only this plugin is loaded (the venv's other plugins cost seconds each run);
    with it, the plugin must arrive through its ``pytest11`` entry point like in any user's venv.
    """
    (tmp_path / "test_sample.py").write_text(tests)
    junit = tmp_path / "junit.xml"
    environment = {k: v for k, v in os.environ.items() if k != "HANRIG_RIG"}
    environment.update(env or {})
    plugin: list[str] = []
    if not autoload:
        environment["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        plugin = ["-p", "rigs.pytest_plugin"]
    proc = subprocess.run([sys.executable, "-m", "pytest", *plugin, "-p", "no:cacheprovider", "-rs",
                           f"--junitxml={junit}", *args, str(tmp_path / "test_sample.py")],
                          cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=60,
                          check=False)
    outcomes: dict[str, str] = {}
    if junit.exists():
        for case in ET.parse(junit).getroot().iter("testcase"):
            child = next(iter(case), None)
            outcomes[case.get("name")] = child.tag if child is not None else "passed"
    return proc.returncode, proc.stdout + proc.stderr, outcomes


def test_hardware_tests_skip_on_the_simulated_bench(tmp_path):
    code, out, outcomes = pytest_run(tmp_path, autoload=True)
    assert code == 0, out
    assert outcomes == {"test_needs_a_stick": "skipped", "test_plain": "passed"}
    assert "rig 'default-sim-bench' (the built-in simulated bench) has no real radio" in out


def test_hardware_tests_run_with_a_hardware_rig(tmp_path):
    code, out, outcomes = pytest_run(tmp_path, "--hanrig-rig", str(EXAMPLES_DIR / "hardware.toml"))
    assert code == 0, out
    assert outcomes == {"test_needs_a_stick": "passed", "test_plain": "passed"}
    assert f"hanrig rig: {EXAMPLES_DIR / 'hardware.toml'}" in out


def test_rig_from_the_environment(tmp_path):
    code, out, outcomes = pytest_run(tmp_path, env={"HANRIG_RIG": str(EXAMPLES_DIR / "faults.toml")})
    assert code == 0, out
    assert outcomes["test_needs_a_stick"] == "skipped"
    assert "rig 'sim-faults'" in out and "faults.toml" in out


def test_a_bad_rig_file_is_a_usage_error(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[rig]\nname = "x"\n\n[[radios]]\nid = "r"\nurl = "nowhere"\n')
    code, out, _ = pytest_run(tmp_path, "--rig", str(bad))
    assert code == 4  # pytest's usage error
    assert f"hanrig: {bad}:6: radios[0].url: 'nowhere' is not a radio URL" in out


def test_hardware_marker_takes_no_arguments(tmp_path):
    tests = "import pytest\n\n@pytest.mark.hardware('ezsp')\ndef test_x():\n    pass\n"
    code, out, _ = pytest_run(tmp_path, tests=tests)
    assert code == 4
    assert "@pytest.mark.hardware takes no arguments" in out

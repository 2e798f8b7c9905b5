"""The pytest plugin's rig, gateway and dut fixtures, in-process with ``pytester`` on the sim bench."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

# zigpy and the gateway are imported here, once: pytester's inline runs restore sys.modules afterwards,
# and zigpy's registries do not survive being imported a second time in one process.
import gateway.session  # noqa: F401
import hal  # noqa: F401
from rigs.records import RunOutcome, StepOutcome
from rigs.store import open_store

pytest_plugins = ["pytester"]

DEVICE_TESTS = '''
import pytest

def test_every_device_has_joined(gateway, dut):
    assert dut.han.eui64 == dut.eui64
    assert dut.han.role == dut.role

@pytest.mark.dut("IHD", "gsme")
def test_only_some_devices(dut):
    assert dut.id in ("ihd", "gsme")

@pytest.mark.dut("ESME")
def test_inventory_over_the_gateway(gateway, dut):
    inventory = gateway.run(gateway.gateway.inventory.read(dut.han))
    assert inventory.model == "SIM-ESME"

@pytest.mark.dut("hcalcs")
def test_a_failing_device_test(dut):
    assert dut.role == "IHD", "the HCALCS is not an IHD"

def test_rig(rig):
    assert rig.name == "default-sim-bench"
'''


@pytest.fixture
def run_inline(pytester: pytest.Pytester, tmp_path):
    def run(tests: str, *args: str) -> tuple[pytest.RunResult, str]:
        pytester.makepyfile(test_devices=tests)
        results = tmp_path / "results"
        junit = tmp_path / "junit.xml"
        outcome = pytester.runpytest("-p", "no:cacheprovider",
                                     f"--hanrig-results={results}", f"--junitxml={junit}", *args)
        return outcome, str(results)
    return run


def test_dut_is_parametrised_over_the_rig_and_results_reach_the_store(run_inline, tmp_path):
    result, results = run_inline(DEVICE_TESTS)
    result.assert_outcomes(passed=5 + 2 + 1 + 1, failed=1)
    names = {r.nodeid.split("::")[-1] for r in result.reprec.getreports("pytest_runtest_logreport")
             if r.when == "call"}
    assert "test_every_device_has_joined[ppmid]" in names
    assert "test_only_some_devices[ihd]" in names and "test_only_some_devices[gsme]" in names
    assert not any(n.startswith("test_only_some_devices[esme") for n in names)

    with open_store(results, create=False) as store:
        (summary,) = store.list_runs()
        run = store.load_run(summary.run_id)
    assert run.rig_name == "default-sim-bench" and run.outcome is RunOutcome.FAIL
    steps = {(d.id, s.name): s for d in run.duts for s in d.steps}
    assert steps[("ihd", "test_every_device_has_joined[ihd]")].outcome is StepOutcome.PASS
    failed = steps[("hcalcs", "test_a_failing_device_test[hcalcs]")]
    assert failed.outcome is StepOutcome.FAIL and "the HCALCS is not an IHD" in failed.summary()
    assert len(steps) == 9  # every test that used dut, none that did not

    suite = ET.parse(tmp_path / "junit.xml").getroot().find("testsuite")
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["hanrig_rig"] == "default-sim-bench"
    assert props["hanrig_rig_file"] == "built-in simulated bench"
    assert props["hanrig_run_id"] == run.run_id


def test_unknown_role_or_device_in_the_marker_is_a_usage_error(run_inline):
    result, _ = run_inline("import pytest\n\n@pytest.mark.dut('toaster')\ndef test_x(dut):\n    pass\n")
    assert result.ret == pytest.ExitCode.INTERRUPTED  # a UsageError while collecting
    result.stdout.fnmatch_lines(["*UsageError*@pytest.mark.dut('toaster'): no such role or device in rig*"])


def test_a_marker_without_arguments_is_a_usage_error(run_inline):
    result, _ = run_inline("import pytest\n\n@pytest.mark.dut\ndef test_x(dut):\n    pass\n")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*UsageError*@pytest.mark.dut takes roles or device ids*"])


def test_a_role_the_rig_lacks_is_skipped_with_a_reason(run_inline, tmp_path):
    rig = tmp_path / "ihd-only.toml"
    rig.write_text('[rig]\nname = "one"\n[[radios]]\nid = "sim"\nurl = "sim://"\n'
                   '[[devices]]\nid = "ihd"\nrole = "IHD"\neui64 = "00:0d:6f:00:0a:bc:00:03"\n')
    result, _ = run_inline("import pytest\n\n@pytest.mark.dut('GSME')\ndef test_x(dut):\n    pass\n",
                           f"--hanrig-rig={rig}", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*rig 'one' has no device of the roles asked for*"])


def test_a_gateway_that_cannot_open_fails_once_then_skips(run_inline, tmp_path):
    rig = tmp_path / "no-stick.toml"
    rig.write_text('[rig]\nname = "nostick"\n[[radios]]\nid = "stick"\n'
                   'url = "ezsp:///dev/hanrig-no-such-tty"\n'
                   '[[devices]]\nid = "ihd"\nrole = "IHD"\neui64 = "00:0d:6f:00:0a:bc:00:03"\n')
    tests = "def test_one(gateway):\n    pass\n\ndef test_two(gateway):\n    pass\n"
    result, _ = run_inline(tests, f"--hanrig-rig={rig}", "-rs")
    result.assert_outcomes(errors=1, skipped=1)
    result.stdout.fnmatch_lines(["*the rig's gateway failed to open earlier*"])

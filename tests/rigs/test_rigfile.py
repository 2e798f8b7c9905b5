"""Rig files: the default bench, the examples, and one clear error per kind of bad input."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from gateway.loadcontrol import Commander
from gateway.ota import OtaPolicies
from gateway.policies import Policies
from hanrig_errors import BadInput
from rigs.exceptions import RigFileError
from rigs.rigfile import (
    DEFAULT_RIG_FILE,
    EXAMPLES_DIR,
    Activation,
    Role,
    StepKind,
    default_rig,
    load_rig,
    parse_rig,
)

FIXED = {
    "ESME": "00:0d:6f:00:0a:bc:00:01",
    "GSME": "00:0d:6f:00:0a:bc:00:02",
    "IHD": "00:0d:6f:00:0a:bc:00:03",
    "PPMID": "00:0d:6f:00:0a:bc:00:04",
    "HCALCS": "00:0d:6f:00:0a:bc:00:05",
}

MINIMAL = """\
[rig]
name = "t"

[[radios]]
id = "sim"
url = "sim://"

[[devices]]
id = "ihd"
role = "IHD"
eui64 = "00:0d:6f:00:0a:bc:00:03"

[[devices]]
id = "gsme"
role = "GSME"
eui64 = "000d6f000abc0002"
"""


def test_default_rig_is_the_fixed_bench():
    rig = default_rig(base_dir=Path("/srv/bench"))
    assert [r.url for r in rig.radios] == ["sim://"]
    assert {str(d.role): d.eui64 for d in rig.devices} == FIXED
    # every step kind but the conformance ones (ota_negative, prompt: rigs/examples/conformance.toml);
    # SECMP0024: the ESME's hold push and CS06, at once and then future-dated
    K = StepKind
    assert [s.step for s in rig.plan] == [K.JOIN, K.CBKE, K.INVENTORY, K.OTA, K.OTA, K.CS06, K.OTA, K.CS06,
                                          K.GAS, K.CERTS, K.LOADCONTROL, K.ALERTS, K.COT]
    assert set(StepKind) - {s.step for s in rig.plan} == {K.OTA_NEGATIVE, K.PROMPT}
    esme_steps = [(s.name, dict(s.params)) for s in rig.plan[4:8] if s.roles == (Role.ESME,)]
    assert esme_steps == [("ota", {"image_version": 0x00010100, "activation": "hold"}), ("cs06", {}),
                          ("ota", {"image_version": 0x00010200, "activation": "hold"}), ("cs06", {"at": 600})]
    by_step = {s.name: {str(d.role) for d in rig.devices_for(s)} for s in (*rig.plan[:4], *rig.plan[8:])}
    assert by_step["ota"] == {"IHD", "PPMID", "HCALCS"}
    assert by_step["gas"] == {"GSME"}
    assert by_step["certs"] == {"ESME"}
    assert by_step["loadcontrol"] == {"HCALCS"}
    assert by_step["cbke"] == {"ESME", "GSME", "PPMID", "HCALCS"}
    assert by_step["join"] == set(FIXED)
    assert not rig.has_real_radios
    # Outputs of the built-in bench land where the user runs it, not inside the package.
    assert rig.outputs.results == "/srv/bench/hanrig-results"
    assert rig.text == DEFAULT_RIG_FILE.read_text()


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES_DIR.glob("*.toml")))
def test_every_example_parses(name):
    rig = load_rig(EXAMPLES_DIR / name)
    assert rig.devices and rig.plan and rig.radios
    assert rig.planned()


def test_fault_example_keeps_simulator_tables_raw():
    rig = load_rig(EXAMPLES_DIR / "faults.toml")
    kinds = [f["kind"] for f in rig.sim_tables.faults]
    assert kinds == ["drop", "reboot", "alert_storm", "clock_drift"]
    assert rig.sim_tables.sim["frame_loss"] == 0.02
    assert rig.sim_tables.devices["gsme"]["clock"] == "drifting"
    ota = next(s for s in rig.plan if s.step is StepKind.OTA)
    assert ota.devices == ("ihd",) and ota.timeout_s == 900
    assert rig.outputs.junit == EXAMPLES_DIR / "out/junit.xml"


def test_hardware_example_has_a_real_radio():
    rig = load_rig(EXAMPLES_DIR / "hardware.toml")
    assert rig.has_real_radios
    stick = rig.radio("stick")
    assert stick.scheme == "ezsp" and stick.pan_id == 0x4C1D and stick.max_concurrent_duts == 4
    ihd = rig.device("ihd-a")
    assert ihd.install_code is not None and len(ihd.install_code) == 18
    assert ihd.expect.firmware_version == 0x00020003
    assert rig.policies.ota.activation.mode is Activation.HOLD
    assert rig.policies.ota.max_concurrent == 4  # the tightest radio's max_concurrent_duts
    assert rig.policies.loadcontrol.commanders == {Commander.SUPPLIER}


def test_minimal_rig_defaults_and_normalisation(tmp_path):
    rig = parse_rig(MINIMAL, tmp_path / "rig.toml")
    assert rig.device("gsme").eui64 == "00:0d:6f:00:0a:bc:00:02"
    assert rig.device("ihd").radio == "sim"  # the only radio is the default
    assert rig.device("gsme").role is Role.GSME
    assert rig.plan == ()
    assert rig.outputs.results == str(tmp_path / "hanrig-results")
    assert rig.policies == Policies(ota=OtaPolicies(max_concurrent=8))  # the gateway's own defaults
    with pytest.raises(dataclasses.FrozenInstanceError):
        rig.name = "x"  # type: ignore[misc]


@pytest.mark.parametrize("extra,where", [
    ('\n[sim]\nwhatever = "x"\n', "sim.whatever"),
    ('\n[sim]\nstart_time = "noon"\n', "sim.start_time"),
    ('\n[[faults]]\nkind = "no-such-kind"\n', "faults[0].kind"),
])
def test_sim_tables_are_checked_at_load_with_file_and_line(tmp_path, extra, where):
    """Issue 15: [sim] and [[faults]] are checked when the rig loads (not when its radio opens), and the
    error names file:line and the key path; a stored snapshot is re-read without the check."""
    path = tmp_path / "rig.toml"
    path.write_text(MINIMAL + extra)
    line = next(n for n, text in enumerate((MINIMAL + extra).splitlines(), 1)
                if text.startswith(where.rpartition(".")[2].split("[")[0] + " ="))
    with pytest.raises(BadInput, match=rf"rig\.toml:{line}: {re.escape(where)}: "):
        load_rig(path)
    parse_rig(MINIMAL + extra, check_references=False)


def test_step_params_parse_and_paths_resolve(tmp_path):
    text = MINIMAL + """
[policies]
activation = "at:2026-12-01T02:00:00Z"

[[plan.steps]]
step = "ota"
devices = ["ihd"]
image = "images/ihd.ota"
expect_version = "0x00020000"
timeout_s = 30

[[plan.steps]]
step = "gas"
reads = 3
"""
    (tmp_path / "images").mkdir()
    (tmp_path / "images/ihd.ota").write_bytes(b"referenced files must exist when the rig loads")
    rig = parse_rig(text, tmp_path / "r.toml")
    ota, gas = rig.plan
    assert ota.params["image"] == tmp_path / "images/ihd.ota"
    assert ota.params["expect_version"] == 0x00020000
    assert ota.timeout_s == 30.0
    assert [d.id for d in rig.devices_for(ota)] == ["ihd"]
    assert [d.id for d in rig.devices_for(gas)] == ["gsme"]
    assert rig.policies.ota.activation.mode is Activation.AT
    assert rig.policies.ota.activation.at is not None and rig.policies.ota.activation.at.hour == 2


BAD = [
    # (rig text, key path in the message, words in the message, text on the line the error names)
    ("[rig\nname = 1\n", None, "not valid TOML", "[rig"),
    (MINIMAL + "\n[extra]\nx = 1\n", "extra", "unknown key", "[extra]"),
    (MINIMAL.replace('role = "IHD"', 'role = "IHD"\ncolour = "red"'), "devices[0].colour", "unknown key",
     "colour"),
    (MINIMAL.replace('role = "GSME"', 'role = "METER"'), "devices[1].role", "'METER' is not one of", "METER"),
    (MINIMAL.replace('"000d6f000abc0002"', '"00:0d:6f"'), "devices[1].eui64", "is not an EUI-64",
     '"00:0d:6f"'),
    (MINIMAL.replace('id = "gsme"', 'id = "ihd"'), "devices[1].id", "duplicate device id", 'id = "ihd"'),
    (MINIMAL.replace('"000d6f000abc0002"', '"00:0d:6f:00:0a:bc:00:03"'), "devices[1].eui64", "already device",
     "eui64"),
    (MINIMAL.replace('id = "gsme"', 'id = "gsme"\nradio = "stick"'), "devices[1].radio", "no radio with id",
     "stick"),
    (MINIMAL.replace('url = "sim://"', 'url = "sim://"\npan_id = "1a62"'), "radios[0].pan_id", "not a hex id",
     "pan_id"),
    (MINIMAL.replace('url = "sim://"', 'url = "sim://"\nchannel = 27'), "radios[0].channel", "outside 11..26",
     "channel"),
    (MINIMAL.replace('url = "sim://"', 'url = "zigbee:/dev/x"'), "radios[0].url", "not a radio URL",
     "zigbee"),
    (MINIMAL.replace('[rig]\nname = "t"\n', '[rig]\n'), "rig.name", "missing", "[rig]"),
    (MINIMAL + '\n[[plan.steps]]\nstep = "ota"\nspeed = 9\n', "plan.steps[0].speed", "unknown key", "speed"),
    (MINIMAL + '\n[[plan.steps]]\nstep = "dance"\n', "plan.steps[0].step", "'dance' is not one of", "dance"),
    (MINIMAL + '\n[[plan.steps]]\nstep = "gas"\nroles = ["IHD"]\n', "plan.steps[0].roles[0]",
     "does not apply to IHD", "roles"),
    (MINIMAL + '\n[[plan.steps]]\nstep = "ota"\ndevices = ["esme"]\n', "plan.steps[0].devices[0]",
     "no device with id 'esme'", "esme"),
    (MINIMAL + '\n[[plan.steps]]\nstep = "gas"\nclock_scenarios = ["sunny"]\n',
     "plan.steps[0].clock_scenarios[0]", "'sunny' is not one of reliable_gpf", "sunny"),
    (MINIMAL + '\n[[plan.steps]]\nstep = "join"\ntimeout_s = "long"\n', "plan.steps[0].timeout_s",
     "expected a number", "long"),
    (MINIMAL + '\n[policies]\nactivation = "later"\n', "policies.activation", "not one of now | hold",
     "later"),
    (MINIMAL + '\n[policies]\nactivation = "at:2026-12-01T02:00"\n', "policies.activation", "no time zone",
     "at:"),
    (MINIMAL + '\n[policies]\nalerts = { window_s = 60, burst = 3 }\n', "policies.alerts.burst",
     "unknown key", "burst"),
    (MINIMAL + '\n[policies]\nhcalcs_commanders = ["anyone"]\n', "policies.hcalcs_commanders[0]",
     "'anyone' is not one of", "anyone"),
    (MINIMAL + '\n[outputs]\nhtml = 3\n', "outputs.html", "expected a string", "html = 3"),
    (MINIMAL.replace('role = "IHD"', 'role = "IHD"\ninstall_code = "zz"'), "devices[0].install_code",
     "not hex", "install_code"),
    (MINIMAL.replace('role = "IHD"', 'role = "IHD"\nmeter_point = "12ab"'), "devices[0].meter_point",
     "not an MPAN/MPRN", "12ab"),
    ('[rig]\nname = "t"\n', "radios", "at least one", None),
    (MINIMAL + '\n[outputs]\nresults = "r"\n[results]\nurl = "postgresql://h/db"\n', "results.url",
     "give the results store once", "url"),
    (MINIMAL + '\n[results]\npath = "x"\n', "results.path", "unknown key", "path"),
    (MINIMAL + '\n[labgrid]\ncoordinator = 20408\n', "labgrid.coordinator", "expected a string", "20408"),
    # After [[devices]], a bare key belongs to the last device, and is unknown there.
    (MINIMAL + '\nradios = 3\n', "devices[1].radios", "unknown key", "radios = 3"),
]


@pytest.mark.parametrize("text,key,words,on_line", BAD, ids=[f"{b[1]}-{i}" for i, b in enumerate(BAD)])
def test_bad_rig_files_get_one_clear_line(tmp_path, text, key, words, on_line):
    path = tmp_path / "bench.toml"
    path.write_text(text)
    with pytest.raises(RigFileError) as info:
        load_rig(path)
    error = info.value
    message = str(error)
    assert isinstance(error, BadInput) and error.exit_code == 2
    assert "\n" not in message
    assert message.startswith(str(path))
    assert words in message
    if key is not None:
        assert f": {key}: " in message
    if on_line is None:
        assert error.line is None
    else:
        assert error.line is not None, message
        assert on_line in text.splitlines()[error.line - 1], message
        assert message.startswith(f"{path}:{error.line}: ")


def test_device_sim_table_on_a_hardware_radio_is_refused():
    text = MINIMAL.replace('url = "sim://"', 'url = "ezsp:///dev/ttyUSB0"')
    text = text.replace('eui64 = "000d6f000abc0002"',
                        'eui64 = "000d6f000abc0002"\n[devices.sim]\nsleepy = true')
    with pytest.raises(RigFileError, match=r"devices\[1\]\.sim: device is on radio 'sim', which is not sim://"):
        parse_rig(text, Path("hw.toml"))


def test_unreadable_and_non_utf8_files(tmp_path):
    with pytest.raises(RigFileError, match="cannot read"):
        load_rig(tmp_path / "missing.toml")
    bad = tmp_path / "latin1.toml"
    bad.write_bytes(b'[rig]\nname = "caf\xe9"\n')
    with pytest.raises(RigFileError, match="not UTF-8"):
        load_rig(bad)


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES_DIR.glob("*.toml")))
def test_examples_are_accepted_by_the_simulator_too(name):
    """One file, several parsers: the simulator's tables in the examples must satisfy hal.sim.config."""
    sim_config = pytest.importorskip("hal.sim.config")
    rig = load_rig(EXAMPLES_DIR / name)
    config = sim_config.parse_sim_config(rig.document(), source=str(rig.source), base=rig.base_dir)
    assert [d.id for d in config.devices] == [d.id for d in rig.devices]
    assert len(config.faults) == len(rig.sim_tables.faults)


def test_lab_rig_names_a_labgrid_place_a_coordinator_and_a_postgres_store(tmp_path):
    text = MINIMAL.replace('url = "sim://"', 'url = "labgrid://han-bench-1"') + """
[labgrid]
coordinator = "lab-coordinator:20408"

[results]
url = "postgresql://hanrig@db.lab/results"
"""
    rig = parse_rig(text, tmp_path / "rig.toml")
    assert rig.radios[0].url == "labgrid://han-bench-1?coordinator=lab-coordinator:20408"
    assert not rig.radios[0].is_simulated and rig.outputs.results == "postgresql://hanrig@db.lab/results"


@pytest.mark.parametrize("step,problem", [
    ('step = "ota"\nimage = "missing.ota"', "missing.ota: cannot read: does not exist"),
    ('step = "ota"\nimage = "adir"', "adir: is a directory, not a regular file"),
    ('step = "ota"\nimage = "fifo"', "fifo: is a FIFO, not a regular file"),
    ('step = "ota"\nimage_dir = "missing"', "missing: does not exist"),
    ('step = "certs"\nroots = ["fifo"]', "fifo: is a FIFO"),
])
def test_referenced_files_must_exist_and_be_regular_at_load(tmp_path, step, problem):
    """Issue 15: a rig naming a missing image, a directory or a FIFO fails when loaded (exit 2, file:line),
    not minutes into the run (and never hangs reading a FIFO)."""
    import os

    (tmp_path / "adir").mkdir()
    os.mkfifo(tmp_path / "fifo")
    path = tmp_path / "rig.toml"
    text = MINIMAL + f"\n[[plan.steps]]\n{step}\n"
    path.write_text(text)
    with pytest.raises(RigFileError, match=re.escape(problem)) as info:
        load_rig(path)
    assert info.value.line is not None and info.value.line > MINIMAL.count("\n")


def test_basic_strings_must_fit_the_basic_cluster(tmp_path):
    path = tmp_path / "rig.toml"
    device = 'eui64 = "00:0d:6f:00:0a:bc:00:03"'
    path.write_text(MINIMAL.replace(device, device + '\n[devices.sim]\nmodel = "' + "M" * 33 + '"', 1))
    with pytest.raises(BadInput, match=r"rig\.toml:\d+: devices\[\d\]\.sim\.model: 33 octets; the Basic "
                                       r"cluster carries at most 32"):
        load_rig(path)


def test_operator_and_dut_serials_come_from_the_rig_file():
    from rigs.rigfile import load_rig

    rig = load_rig(Path(__file__).resolve().parents[2] / "rigs" / "examples" / "conformance.toml")
    assert rig.operator == "bench operator"
    assert {d.id: d.serial for d in rig.devices} == {"ihd": None, "ppmid": None, "hcalcs": "HCALCS-SIM-0005"}

"""Radio URLs: parsing, one-line bad URLs, missing extras, the radio clock, per-radio databases."""

from __future__ import annotations

import asyncio
import builtins
from pathlib import Path

import pytest

import hal
from hal import radio
from hal.exceptions import BadRadioUrl, MissingRadioExtra, RadioUnreachable
from hanrig_errors import BadInput


@pytest.mark.parametrize(
    "url,scheme,path,baud,flow",
    [
        (
            "ezsp:///dev/ttyUSB0?baudrate=115200&flow_control=hardware",
            "ezsp",
            "/dev/ttyUSB0",
            115200,
            "hardware",
        ),
        ("ezsp:socket://192.168.1.20:6638", "ezsp", "socket://192.168.1.20:6638", None, None),
        ("znp:/dev/ttyACM0?baudrate=115200", "znp", "/dev/ttyACM0", 115200, None),
        ("deconz:///dev/ttyACM1", "deconz", "/dev/ttyACM1", None, None),
        ("/dev/ttyUSB1", "ezsp", "/dev/ttyUSB1", None, None),
        ("socket://host:6638?flow_control=none", "ezsp", "socket://host:6638", None, "none"),
    ],
)
def test_real_radio_urls(url, scheme, path, baud, flow):
    parsed = hal.parse_radio_url(url)
    assert (parsed.scheme, parsed.path, parsed.baudrate, parsed.flow_control) == (scheme, path, baud, flow)


def test_labgrid_urls():
    parsed = hal.parse_radio_url("labgrid://han-bench-1?coordinator=lab:20408&baudrate=460800")
    assert (parsed.scheme, parsed.path, parsed.coordinator, parsed.baudrate) == (
        "labgrid", "han-bench-1", "lab:20408", 460800)
    assert hal.parse_radio_url("labgrid://han-bench-1").coordinator is None


def test_sim_urls():
    assert hal.parse_radio_url("sim://").is_sim
    parsed = hal.parse_radio_url("sim://?rig=bench.toml&seed=4&clock=real&radio=sim")
    assert (parsed.rig, parsed.seed, parsed.clock, parsed.radio_id) == (Path("bench.toml"), 4, "real", "sim")
    assert not parsed.virtual_clock and hal.parse_radio_url("sim://").virtual_clock


@pytest.mark.parametrize(
    "url,problem",
    [
        ("", "empty"),
        ("zigbee:/dev/ttyUSB0", "unknown radio type"),
        ("ezsp:", "no device path"),
        ("ezsp:///dev/ttyUSB0?baudrate=fast", "baudrate 'fast'"),
        ("ezsp:///dev/ttyUSB0?flow_control=rts", "flow_control 'rts'"),
        ("ezsp:///dev/ttyUSB0?parity=even", "unknown parameter 'parity'"),
        ("ezsp:socket://host", "is not socket://HOST:PORT"),
        ("sim://?seed=-1", "seed '-1'"),
        ("sim://?clock=fast", "clock 'fast'"),
        ("sim://bench", "sim:// takes no path"),
        ("labgrid://", "expected labgrid://PLACE"),
        ("labgrid://a/b", "expected labgrid://PLACE"),
        ("labgrid://bench?coordinator=a b", "coordinator 'a b' is not HOST[:PORT]"),
        ("labgrid://bench?baudrate=fast", "baudrate 'fast'"),
        ("labgrid://bench?rig=x", "unknown parameter 'rig'"),
    ],
)
def test_bad_urls_are_one_line_bad_input(url, problem):
    with pytest.raises(BadRadioUrl) as info:
        hal.parse_radio_url(url)
    assert isinstance(info.value, BadInput)
    message = str(info.value)
    assert problem in message and repr(url) in message and "\n" not in message


@pytest.mark.parametrize("scheme,extra", [("znp", "znp"), ("deconz", "deconz")])
async def test_missing_radio_library_names_the_extra(monkeypatch, scheme, extra):
    real_import = builtins.__import__
    module = radio.RADIO_LIBRARIES[scheme][0]

    def fake_import(name, *args, **kwargs):
        if name == module or name.startswith(module.split(".")[0] + "."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    monkeypatch.setattr(radio.importlib, "import_module", lambda name: fake_import(name))
    with pytest.raises(MissingRadioExtra) as info:
        async with hal.open_radio(f"{scheme}:///dev/ttyACM0"):
            pass
    assert f"pip install 'hanrig[{extra}]'" in str(info.value)


async def test_a_missing_serial_port_is_unreachable(tmp_path):
    config = hal.RadioConfig(data_dir=tmp_path)
    with pytest.raises(RadioUnreachable) as info:
        async with asyncio.timeout(60):
            async with hal.open_radio(f"ezsp://{tmp_path}/no-such-tty", config):
                pass
    assert "no-such-tty" in str(info.value)


def test_one_database_per_radio(tmp_path, monkeypatch):
    monkeypatch.setenv("HANRIG_DATA_DIR", str(tmp_path))
    a = radio.database_path("ezsp:///dev/ttyUSB0?baudrate=115200")
    assert a == radio.database_path("ezsp:///dev/ttyUSB0?baudrate=460800")  # same stick, same db
    assert a != radio.database_path("ezsp:///dev/ttyUSB1")
    assert a.parent == tmp_path


def test_run_uses_virtual_time_for_sim_and_real_time_otherwise():
    import time

    async def long_sleep() -> float:
        loop = asyncio.get_running_loop()
        start = loop.time()
        await asyncio.sleep(3600)
        return loop.time() - start

    wall = time.perf_counter()
    assert hal.run(long_sleep, "sim://") == pytest.approx(3600)
    assert time.perf_counter() - wall < 5

    async def short_sleep() -> float:
        start = time.perf_counter()
        await asyncio.sleep(0.05)
        return time.perf_counter() - start

    assert hal.run(short_sleep, "sim://?clock=real") >= 0.05
    assert hal.run(short_sleep, "ezsp:///dev/ttyUSB0") >= 0.05


@pytest.mark.looptime
async def test_network_parameters_come_from_radio_config():
    import zigpy.types as zigpy_t

    config = hal.RadioConfig(
        channel=20,
        pan_id=0x2B73,
        network_key=bytes(range(16)),
        extended_pan_id=zigpy_t.EUI64.convert("00:0d:6f:ff:fe:00:00:01"),
    )
    async with hal.open_radio("sim://", config) as app:
        info = app.state.network_info
        assert (info.channel, info.pan_id) == (20, 0x2B73)
        assert info.network_key.key == zigpy_t.KeyData(bytes(range(16)))
        assert str(info.extended_pan_id) == "00:0d:6f:ff:fe:00:00:01"
        assert app.han.network.channel == 20


@pytest.mark.looptime
async def test_install_codes_open_the_network_and_bad_codes_are_refused():
    import zigpy.types as zigpy_t

    from hal.exceptions import BadInstallCode

    ieee = zigpy_t.EUI64.convert("00:0d:6f:00:0a:bc:00:09")
    good = bytes.fromhex("83FED3407A939723A5C639B26916D505C3B5")  # zigpy's documented example code
    async with hal.open_radio("sim://", hal.RadioConfig(install_codes={ieee: good})) as app:
        await radio.permit_install_codes(app, hal.RadioConfig(install_codes={ieee: good}), 60)
        assert app.han.permit_until > app.han.loop_time()
        with pytest.raises(BadInstallCode, match="install code for 00:0d:6f:00:0a:bc:00:09"):
            await radio.permit_install_codes(app, hal.RadioConfig(install_codes={ieee: good[:-1] + b"\0"}))


@pytest.mark.looptime
async def test_a_device_that_never_finishes_its_interview_does_not_stop_the_radio(caplog):
    from hal.sim.config import FaultKind, FaultSpec, default_bench

    config = default_bench().replace(faults=(FaultSpec(kind=FaultKind.DROP, device="ihd"),))
    async with hal.open_radio("sim://", hal.RadioConfig(sim=config)) as app:
        assert "not interviewed" in caplog.text and "00:0d:6f:00:0a:bc:00:03" in caplog.text
        assert app.get_device(ieee=app.han.device("esme").ieee).model == "SIM-ESME"


def test_a_stick_that_is_not_there_is_exit_3_and_the_process_ends(tmp_path):
    """zigpy leaves its database thread running when startup fails; open_radio must close it, or the
    CLI prints its error and then never exits."""
    import subprocess
    import sys

    env = {"HANRIG_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, "-c", "from gateway.cli import main; main()", "radio", "info",
         "--radio", f"ezsp://{tmp_path}/no-such-stick"],
        capture_output=True, text=True, timeout=60, env=env, check=False,
    )
    assert proc.returncode == 3, proc.stderr
    assert "no-such-stick" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1

"""Stick discovery over faked pyserial ports, ``hanrig radio list`` and ``hanrig radio info``."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import zigpy.state
import zigpy.types as zigpy_t
import zigpy.zdo.types as zdo_t
from click.testing import CliRunner
from serial.tools import list_ports, list_ports_common

from gateway.cli import cli, main
from gateway.radio_info import describe_radio
from hal import discovery
from hal.discovery import Confidence


def _port(
    device: str,
    vid: int | None = None,
    pid: int | None = None,
    *,
    product: str | None = None,
    manufacturer: str | None = None,
    serial: str | None = None,
    description: str = "n/a",
) -> list_ports_common.ListPortInfo:
    port = list_ports_common.ListPortInfo(device, skip_link_detection=True)
    port.vid, port.pid = vid, pid
    port.product, port.manufacturer, port.serial_number = product, manufacturer, serial
    port.description = description
    return port


CASES = [
    # (port, stick contains, radio type, confidence, url)
    (
        _port("/dev/ttyUSB0", 0x10C4, 0xEA60, product="SkyConnect v1.0", manufacturer="Nabu Casa"),
        "SkyConnect",
        "ezsp",
        Confidence.IDENTIFIED,
        "ezsp:///dev/ttyUSB0?baudrate=115200&flow_control=hardware",
    ),
    (
        _port(
            "/dev/ttyUSB1", 0x10C4, 0xEA60, product="Home Assistant Connect ZBT-1", manufacturer="Nabu Casa"
        ),
        "ZBT-1",
        "ezsp",
        Confidence.IDENTIFIED,
        "ezsp:///dev/ttyUSB1?baudrate=115200&flow_control=hardware",
    ),
    (
        _port(
            "/dev/ttyUSB2", 0x10C4, 0xEA60, product="Sonoff Zigbee 3.0 USB Dongle Plus", manufacturer="ITead"
        ),
        "ZBDongle-P",
        "znp",
        Confidence.IDENTIFIED,
        "znp:///dev/ttyUSB2?baudrate=115200",
    ),
    (
        _port(
            "/dev/ttyACM0",
            0x1A86,
            0x55D4,
            product="Sonoff Zigbee 3.0 USB Dongle Plus V2",
            manufacturer="ITEAD",
        ),
        "ZBDongle-E",
        "ezsp",
        Confidence.IDENTIFIED,
        "ezsp:///dev/ttyACM0?baudrate=115200",
    ),
    (
        _port(
            "/dev/ttyACM1",
            0x1CF1,
            0x0030,
            product="ConBee II",
            manufacturer="dresden elektronik ingenieurtechnik GmbH",
        ),
        "ConBee II",
        "deconz",
        Confidence.IDENTIFIED,
        "deconz:///dev/ttyACM1?baudrate=115200",
    ),
    (
        _port("/dev/ttyUSB3", 0x0403, 0x6015, product="ConBee III", manufacturer="dresden elektronik"),
        "ConBee III",
        "deconz",
        Confidence.IDENTIFIED,
        "deconz:///dev/ttyUSB3?baudrate=115200",
    ),
    (
        _port(
            "/dev/ttyUSB4",
            0x10C4,
            0xEA60,
            product="CP2102N USB to UART Bridge Controller",
            manufacturer="Silicon Labs",
        ),
        "CP210x bridge",
        "ezsp",
        Confidence.LIKELY,
        "ezsp:///dev/ttyUSB4?baudrate=115200",
    ),
    (
        _port("/dev/ttyUSB5", 0x1A86, 0x55D4, product="USB Single Serial"),
        "CH9102 bridge",
        "ezsp",
        Confidence.LIKELY,
        "ezsp:///dev/ttyUSB5?baudrate=115200",
    ),
    (
        _port("/dev/ttyUSB6", 0x1A86, 0x7523, product="USB Serial"),
        "CH340 bridge",
        "znp",
        Confidence.LIKELY,
        "znp:///dev/ttyUSB6?baudrate=115200",
    ),
    (
        _port("/dev/ttyUSB7", 0x1A86, 0x7523, product="zzh!", manufacturer="Electrolama"),
        "zzh",
        "znp",
        Confidence.IDENTIFIED,
        "znp:///dev/ttyUSB7?baudrate=115200",
    ),
    (
        _port("/dev/ttyUSB8", 0x10C4, 0x8A2A, product="HubZ Smart Home Controller"),
        "HUSBZB-1",
        "ezsp",
        Confidence.IDENTIFIED,
        "ezsp:///dev/ttyUSB8?baudrate=57600",
    ),
    (
        _port("/dev/ttyACM2", 0x0451, 0x16A8, product="TI CC2531 USB CDC"),
        "CC2531",
        "znp",
        Confidence.IDENTIFIED,
        "znp:///dev/ttyACM2?baudrate=115200",
    ),
    (
        _port("/dev/ttyUSB9", 0x0403, 0x6015, product="FT230X Basic UART", manufacturer="FTDI"),
        "FTDI FT230X bridge",
        None,
        Confidence.UNKNOWN,
        None,
    ),
    (_port("/dev/ttyACM3", 0x2341, 0x0043, product="Arduino Uno"), "unknown", None, Confidence.UNKNOWN, None),
    (_port("/dev/ttyS0"), "unknown", None, Confidence.UNKNOWN, None),
]


@pytest.mark.parametrize(
    ("port", "stick", "radio_type", "confidence", "url"), CASES, ids=[case[0].device for case in CASES]
)
def test_identify(port, stick: str, radio_type: str | None, confidence: Confidence, url: str | None) -> None:
    found = discovery.identify(port)
    assert stick in found.stick
    assert (found.radio_type, found.confidence, found.url) == (radio_type, confidence, url)
    if confidence is Confidence.LIKELY:
        assert f"likely {radio_type}" in found.note


def test_discover_lists_every_port_sorted_and_unknown_ones_too() -> None:
    ports = [case[0] for case in CASES]
    found = discovery.discover(reversed(ports))
    assert [p.device for p in found] == sorted(p.device for p in ports)
    assert sum(p.confidence is Confidence.UNKNOWN for p in found) == 3


def test_radio_url() -> None:
    assert discovery.radio_url("ezsp", "/dev/ttyUSB0", 115200) == "ezsp:///dev/ttyUSB0?baudrate=115200"
    assert (
        discovery.radio_url("znp", "COM3", 115200, "software")
        == "znp://COM3?baudrate=115200&flow_control=software"
    )


@pytest.fixture
def fake_ports(monkeypatch: pytest.MonkeyPatch) -> list:
    ports = [CASES[0][0], CASES[6][0], CASES[13][0]]
    monkeypatch.setattr(list_ports, "comports", lambda *args, **kwargs: list(ports))
    return ports


def test_radio_list_json(fake_ports) -> None:
    result = CliRunner().invoke(cli, ["radio", "list", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    by_device = {port["device"]: port for port in document["ports"]}
    assert set(by_device) == {"/dev/ttyUSB0", "/dev/ttyUSB4", "/dev/ttyACM3"}
    sky = by_device["/dev/ttyUSB0"]
    assert (sky["vid"], sky["vid_int"], sky["pid"], sky["pid_int"]) == ("0x10c4", 0x10C4, "0xea60", 0xEA60)
    assert sky["radio_type"] == "ezsp" and sky["confidence"] == "identified"
    assert sky["url"] == "ezsp:///dev/ttyUSB0?baudrate=115200&flow_control=hardware"
    assert by_device["/dev/ttyUSB4"]["confidence"] == "likely"
    assert by_device["/dev/ttyACM3"]["radio_type"] is None


def test_radio_list_text(fake_ports) -> None:
    result = CliRunner().invoke(cli, ["radio", "list"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["DEVICE", "VID:PID", "STICK", "TYPE", "URL"]
    assert any(
        "/dev/ttyUSB0" in line and "10c4:ea60" in line and "ezsp:///dev/ttyUSB0" in line for line in lines
    )
    assert any("/dev/ttyUSB4" in line and "ezsp (likely)" in line for line in lines)
    assert any(line.startswith("/dev/ttyACM3") and "unknown" in line for line in lines)
    assert any(line.startswith("/dev/ttyUSB4: CP210x bridge") for line in lines)


def test_radio_list_with_no_ports(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(list_ports, "comports", lambda *args, **kwargs: [])
    result = CliRunner().invoke(cli, ["radio", "list"])
    assert result.output.strip() == "no serial ports found"
    assert json.loads(CliRunner().invoke(cli, ["radio", "list", "--json"]).output) == {"ports": []}


class _FakeApp:
    """Only zigpy's standard application state, as a bellows application fills it."""

    def __init__(self, formed: bool) -> None:
        self.state = zigpy.state.State()
        ieee = zigpy_t.EUI64.convert("00:0d:6f:00:0a:bc:12:34")
        self.state.node_info = zigpy.state.NodeInfo(
            nwk=zigpy_t.NWK(0x0000),
            ieee=ieee,
            logical_type=zdo_t.LogicalType.Coordinator,
            model="SkyConnect",
            manufacturer="Nabu Casa",
            version="7.4.4.0 build 0",
        )
        if formed:
            self.state.network_info = zigpy.state.NetworkInfo(
                source="bellows@1.2.1",
                extended_pan_id=zigpy_t.ExtendedPanId.convert("00:0d:6f:ff:fe:0a:bc:00"),
                pan_id=zigpy_t.PanId(0x1A62),
                channel=15,
                nwk_update_id=2,
                tx_power=8,
                metadata={"ezsp": {"stack_version": 13, "chip_info": None}, "ezspVersion": 13},
            )
        self.devices = {ieee: object(), zigpy_t.EUI64.convert("00:0d:6f:00:0a:bc:00:03"): object()}


def test_describe_radio_from_zigpy_state() -> None:
    info = describe_radio(_FakeApp(formed=True), "ezsp:///dev/ttyUSB0?baudrate=115200")
    assert info["stack"] == "bellows@1.2.1"
    assert info["stack_version"] == "13"
    assert info["firmware_version"] == "7.4.4.0 build 0"
    assert info["ieee"] == "00:0d:6f:00:0a:bc:12:34"
    assert (info["nwk"], info["nwk_int"], info["logical_type"]) == ("0x0000", 0, "Coordinator")
    assert (info["channel"], info["pan_id"], info["pan_id_int"]) == (15, "0x1a62", 0x1A62)
    assert info["extended_pan_id"] == "00:0d:6f:ff:fe:0a:bc:00"
    assert (info["network_state"], info["nwk_update_id"], info["tx_power"], info["devices"]) == (
        "formed",
        2,
        8,
        1,
    )


def test_describe_radio_not_formed() -> None:
    info = describe_radio(_FakeApp(formed=False), "ezsp:///dev/ttyUSB0")
    assert info["network_state"] == "not formed"
    assert (info["channel"], info["pan_id"], info["extended_pan_id"], info["stack_version"]) == (None,) * 4


def test_radio_info_on_the_simulated_bench(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["radio", "info", "--radio", "sim://", "--json"])
    assert exited.value.code == 0
    info = json.loads(capsys.readouterr().out)
    assert info["ieee"] == "00:0d:6f:00:0a:bc:00:00"  # the fixed coordinator identity
    assert (info["nwk"], info["network_state"], info["channel"], info["pan_id"]) == (
        "0x0000",
        "formed",
        15,
        "0x1a62",
    )
    assert info["extended_pan_id"] == "00:0d:6f:ff:fe:0a:bc:00"
    assert info["devices"] == 5
    assert info["firmware_version"]


def test_radio_info_text_on_the_simulated_bench(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["radio", "info", "--radio", "sim://"])
    assert exited.value.code == 0
    lines = dict(
        line.split(None, 1)
        for line in capsys.readouterr().out.splitlines()
        if line.startswith(("IEEE", "network"))
    )
    assert lines == {"IEEE": "00:0d:6f:00:0a:bc:00:00", "network": "formed"}


def test_radio_info_bad_url_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["radio", "info", "--radio", "bogus://x"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("hanrig: error: radio URL 'bogus://x'") and err.count("\n") == 1


def test_radio_info_takes_the_url_from_the_environment(monkeypatch, capsys) -> None:
    monkeypatch.setenv("HANRIG_RADIO", "sim://")
    with pytest.raises(SystemExit) as exited:
        main(["radio", "info", "--json"])
    assert exited.value.code == 0
    assert json.loads(capsys.readouterr().out)["url"] == "sim://"


HANRIG = [sys.executable, "-c", "from gateway.cli import main; main()"]


def test_radio_info_over_bellows_on_the_virtual_ezsp_stick(tmp_path) -> None:
    """The real-radio path: bellows (unmodified) on the virtual EZSP stick's pty, in real time."""
    env = {**os.environ, "HANRIG_DATA_DIR": str(tmp_path)}
    stick = subprocess.Popen(
        [*HANRIG, "sim", "stick"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    )
    try:
        path = stick.stdout.readline().strip()
        if not path.startswith("/dev/"):
            pytest.skip(f"no virtual stick here: {path!r}")
        url = f"ezsp://{path}?baudrate=115200"
        done = subprocess.run(
            [*HANRIG, "radio", "info", "--radio", url, "--json"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
    finally:
        stick.terminate()
        stick.wait(timeout=10)
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert info["stack"].startswith("bellows@")
    assert info["stack_version"] == "13"  # the stick's default EZSP protocol version
    assert info["model"] == "virtual-ezsp-stick"
    assert (info["ieee"], info["network_state"], info["channel"], info["pan_id"]) == (
        "00:0d:6f:00:0a:bc:00:00",
        "formed",
        15,
        "0x1a62",
    )

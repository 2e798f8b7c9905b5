"""The rig file's simulator tables: typed parsing, unknown keys rejected, errors name file, key path, line."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import hal
from hal.roles import Role
from hal.sim.config import ClockMode, Direction, FaultKind, load_sim_config
from hal.sim.exceptions import SimConfigError
from hanrig_errors import BadInput

RIG = """
[rig]
name = "bench-7"

[[radios]]
id = "sim"
url = "sim://"

[[devices]]
id = "gas"
role = "GSME"
eui64 = "00:0d:6f:00:0a:bc:10:02"
radio = "sim"
meter_point = "1234567890"
[devices.sim]
clock = "drifting"
drift_s_per_hour = 30.0
firmware_version = "0x00010203"
image_type = "0x0001"
max_data_size = 48
sleepy = true
trust_anchors = {}

[[devices]]
id = "elec"
role = "ESME"
eui64 = "000d6f000abc1001"

[sim]
seed = 42
frame_loss = 0.01
host_link_baudrate = 115200

[[faults]]
kind = "drop"
device = "elec"
direction = "to_device"
probability = 0.5
after_s = 10

[[faults]]
kind = "alert_storm"
device = "gas"
rate_hz = 5.0
duration_s = 2.0
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rig.toml"
    path.write_text(text)
    return path


def test_rig_file_tables_parse_into_typed_config(tmp_path):
    config = load_sim_config(write(tmp_path, RIG))
    assert config.settings.seed == 42 and config.settings.host_link_baudrate == 115200
    gas, elec = config.devices
    assert (gas.id, gas.role, str(gas.eui64)) == ("gas", Role.GSME, "00:0d:6f:00:0a:bc:10:02")
    assert gas.sim.clock is ClockMode.DRIFTING and gas.sim.firmware_version == 0x00010203
    assert gas.sim.max_data_size == 48 and gas.image_type == 0x0001
    assert str(elec.eui64) == "00:0d:6f:00:0a:bc:10:01" and elec.image_type == 0x0000
    drop, storm = config.faults
    assert drop.kind is FaultKind.DROP and drop.direction is Direction.TO_DEVICE and drop.probability == 0.5
    assert storm.kind is FaultKind.ALERT_STORM and storm.rate_hz == 5.0


@pytest.mark.parametrize(
    "edit,key_path,problem",
    [
        (
            ("max_data_size = 48", "max_data_size = 48\nblock_size = 3"),
            "devices[0].sim.block_size",
            "unknown key",
        ),
        (("seed = 42", "seed = 42\nspeed = 2"), "sim.speed", "unknown key"),
        (('clock = "drifting"', 'clock = "sometimes"'), "devices[0].sim.clock", "'sometimes' is not one of"),
        (('role = "GSME"', 'role = "TV"'), "devices[0].role", "'TV' is not one of"),
        (('eui64 = "000d6f000abc1001"', 'eui64 = "000d6f"'), "devices[1].eui64", "is not an EUI-64"),
        (("max_data_size = 48", "max_data_size = 300"), "devices[0].sim.max_data_size", "300 outside 1..255"),
        (('device = "elec"', 'device = "water"'), "faults[0].device", "no device with id 'water'"),
        (("probability = 0.5", "probability = 0.5\nrate_hz = 3"), "faults[0].rate_hz", "unknown key"),
        (('kind = "drop"', 'kind = "flood"'), "faults[0].kind", "'flood' is not one of"),
        (('device = "gas"\nrate_hz', "rate_hz"), "faults[1].device", "needs a device"),
    ],
)
def test_errors_name_the_file_and_key_path(tmp_path, edit, key_path, problem):
    text = RIG.replace(*edit, 1)
    assert text != RIG
    path = write(tmp_path, text)
    with pytest.raises(SimConfigError) as info:
        load_sim_config(path)
    message = str(info.value)
    assert isinstance(info.value, BadInput)
    assert str(path) in message and key_path in message and problem in message and "\n" not in message


def test_toml_syntax_errors_name_the_line(tmp_path):
    text = RIG.replace("seed = 42", "seed = = 42")
    line = text.splitlines().index("seed = = 42") + 1
    path = write(tmp_path, text)
    with pytest.raises(SimConfigError) as info:
        load_sim_config(path)
    assert str(info.value).startswith(f"{path}:{line}: not valid TOML")


def test_files_resolve_relative_to_the_rig_file(tmp_path):
    (tmp_path / "cells").mkdir()
    (tmp_path / "cells" / "root.der").write_bytes(b"\x30\x03\x02\x01\x01")
    path = write(tmp_path, RIG.replace("trust_anchors = {}", 'trust_anchors = { root = "cells/root.der" }'))
    config = load_sim_config(path)
    assert config.devices[0].sim.trust_anchors == {"root": b"\x30\x03\x02\x01\x01"}
    bad = write(tmp_path, RIG.replace("trust_anchors = {}", 'trust_anchors = { root = "cells/none.der" }'))
    with pytest.raises(SimConfigError,
                       match=r"devices\[0\]\.sim\.trust_anchors\.root: .*none\.der: cannot read"):
        load_sim_config(bad)


@pytest.mark.looptime
async def test_sim_url_with_a_rig_file_runs_its_devices_and_faults(tmp_path):
    path = write(tmp_path, RIG)
    async with hal.open_radio(f"sim://?rig={path}&seed=3") as app:
        assert app.han.settings.seed == 3  # the URL's seed wins over the file's
        assert {d.spec.id for d in app.han.devices.values()} == {"gas", "elec"}
        own = app.state.node_info.ieee
        assert sorted(str(ieee) for ieee in app.devices if ieee != own) == [
            "00:0d:6f:00:0a:bc:10:01",
            "00:0d:6f:00:0a:bc:10:02",
        ]
        gas = app.han.device("gas")
        assert 9 <= gas.alarms.sent <= 10  # [[faults]]: 5 Hz for 2 s at power-up
        await asyncio.sleep(5)
        assert gas.alarms.sent <= 10  # and then quiet

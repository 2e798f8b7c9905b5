"""The device inventory (SECMP0056) on the live simulated HAN: every device a row with its role, Basic and
OTA client attributes as the device holds them; partial answers and silent devices still get rows."""

from __future__ import annotations

import asyncio
import json

import pytest
from zigpy.zcl.clusters.general import Basic

from gateway.inventory import BASIC_ATTRIBUTES, OTA_ATTRIBUTES, DeviceInventory, Inventory
from gateway.session import Gateway
from hal.roles import Role
from hal.sim.config import DEFAULT_BENCH_EUI64, FaultKind, FaultSpec

pytestmark = pytest.mark.looptime

_B = Basic.AttributeDefs


async def test_every_device_gets_a_full_row_matching_what_it_holds() -> None:
    async with Gateway.open(["sim://"]) as gw:
        rows = await gw.inventory.read_all()
        han = gw.apps["radio0"].han
        assert [row.eui64 for row in rows] == sorted(DEFAULT_BENCH_EUI64.values())
        expected = {eui: role for role, eui in DEFAULT_BENCH_EUI64.items()}
        assert {row.eui64: row.role for row in rows} == expected
        for row in rows:
            assert isinstance(row, DeviceInventory) and row.complete and row.problems == {}
            device = next(d for d in han.devices.values() if str(d.ieee) == row.eui64)
            table = device.attribute_table(Basic.cluster_id)
            assert row.zcl_version == table[_B.zcl_version.id]
            assert row.app_version == table[_B.app_version.id]
            assert row.stack_version == table[_B.stack_version.id]
            assert row.hw_version == table[_B.hw_version.id]
            assert row.manufacturer == table[_B.manufacturer.id] == "hanrig-sim"
            assert row.model == f"SIM-{row.role}"
            assert row.date_code == table[_B.date_code.id]
            assert row.sw_build_id == table[_B.sw_build_id.id]
            assert row.power_source == ("Battery" if row.role is Role.GSME else "Mains_single_phase")
            assert row.current_file_version == device.ota.current_file_version
            assert row.manufacturer_id == device.spec.sim.manufacturer_code
            assert row.image_type_id == device.spec.image_type
        [gsme] = await gw.inventory.read_all(role="GSME")
        assert gsme.role is Role.GSME


async def test_json_shape_follows_the_cli_contract() -> None:
    async with Gateway.open(["sim://"]) as gw:
        row = (await gw.inventory.read(DEFAULT_BENCH_EUI64[Role.PPMID])).as_dict()
        assert row["eui64"] == "00:0d:6f:00:0a:bc:00:04" and row["role"] == "PPMID"
        assert row["firmware_version"] == "0x00010000" and row["firmware_version_int"] == 0x00010000
        assert row["manufacturer_code"] == "0x1234" and row["manufacturer_code_int"] == 0x1234
        assert row["image_type"] == "0x0084" and row["image_type_int"] == 0x0084
        assert row["nwk"] == f"0x{row['nwk_int']:04x}"
        assert set(row["basic"]) == set(BASIC_ATTRIBUTES)
        assert row["missing"] == [] and row["problems"] == {}


async def test_a_partial_answer_names_the_missing_attributes() -> None:
    async with Gateway.open(["sim://"]) as gw:
        ihd = gw.apps["radio0"].han.device("ihd")
        del ihd.attributes[Basic.cluster_id][_B.date_code.id]
        del ihd.attributes[Basic.cluster_id][_B.zcl_version.id]
        row = await gw.inventory.read("00:0d:6f:00:0a:bc:00:03")
        assert row.missing == ("zcl_version", "date_code")
        assert row.problems == {
            "zcl_version": "device says UNSUPPORTED_ATTRIBUTE",
            "date_code": "device says UNSUPPORTED_ATTRIBUTE",
        }
        assert row.zcl_version is None and row.date_code is None
        assert row.model == "SIM-IHD" and row.current_file_version == 0x00010000
        assert row.as_dict()["missing"] == ["zcl_version", "date_code"]
        # ZCL 3.2.2.2: ZCLVersion is mandatory for every role; DateCode is optional (recorded, not failed)
        assert row.missing_mandatory == ("zcl_version",) and row.missing_optional == ("date_code",)
        assert "3.2.2.2" in row.requirements["zcl_version"].source


async def test_requirements_depend_on_the_role_and_cite_their_source() -> None:
    from gateway.inventory import REQUIREMENTS

    for role, table in REQUIREMENTS.items():
        assert table["zcl_version"].mandatory and table["power_source"].mandatory, role
        assert all(req.source for req in table.values())
    # SECMP0056: IHDs and PPMIDs must say who made them and what they are; meters need not (ZCL optional)
    assert REQUIREMENTS[Role.IHD]["model"].mandatory and REQUIREMENTS[Role.PPMID]["hw_version"].mandatory
    assert not REQUIREMENTS[Role.ESME]["model"].mandatory
    assert REQUIREMENTS[Role.HCALCS]["current_file_version"].mandatory
    async with Gateway.open(["sim://"]) as gw:
        for device_id in ("ihd", "esme"):
            del gw.apps["radio0"].han.device(device_id).attributes[Basic.cluster_id][_B.model.id]
        ihd = await gw.inventory.read("00:0d:6f:00:0a:bc:00:03")
        esme = await gw.inventory.read("00:0d:6f:00:0a:bc:00:01")
    assert ihd.missing_mandatory == ("model",) and ihd.missing_optional == ()
    assert esme.missing_mandatory == () and esme.missing_optional == ("model",)
    assert ihd.as_dict()["requirements"]["model"]["source"].startswith("SECMP0056")


async def test_a_silent_device_still_gets_a_row_naming_everything() -> None:
    async with Gateway.open(["sim://"]) as gw:
        han = gw.apps["radio0"].han
        han.inject(FaultSpec(kind=FaultKind.DROP, device="hcalcs", direction="to_device"))
        await asyncio.sleep(1)  # the fault arms in a PAN task
        rows = await Inventory(gw, timeout_s=20).read_all()
        by_role = {row.role: row for row in rows}
        silent = by_role[Role.HCALCS]
        assert silent.missing == (*BASIC_ATTRIBUTES, *OTA_ATTRIBUTES)
        assert all(reason.startswith("no answer") for reason in silent.problems.values())
        assert all(by_role[role].complete for role in (Role.IHD, Role.PPMID, Role.ESME, Role.GSME))


async def test_devices_cli_text_names_the_missing_attributes() -> None:
    from gateway.cli.devices_cmds import _render

    async with Gateway.open(["sim://"]) as gw:
        del gw.apps["radio0"].han.device("ppmid").attributes[Basic.cluster_id][_B.date_code.id]
        rows = [row.as_dict() for row in await gw.inventory.read_all()]
    text = _render({"radio": "sim://", "devices": rows})
    lines = text.splitlines()
    assert lines[0] == "5 device(s) on sim://, 4 complete"
    ppmid = next(i for i, line in enumerate(lines) if line.startswith("PPMID"))
    assert lines[ppmid + 2].strip() == "missing date_code: device says UNSUPPORTED_ATTRIBUTE"
    assert sum("missing" in line for line in lines) == 1
    assert "None" not in text and "?" not in text


def test_devices_cli_exit_code_says_whether_the_list_is_complete(tmp_path, capsys) -> None:
    from gateway.cli import main

    with pytest.raises(SystemExit) as complete:
        main(["devices", "--radio", "sim://"])
    assert complete.value.code == 0
    assert capsys.readouterr().out.startswith("5 device(s) on sim://, 5 complete")
    # the GSME never hears the hub: its interview fails, but it is listed, as not interviewed
    rig = tmp_path / "rig.toml"
    rig.write_text('[rig]\nname = "r"\n[[radios]]\nid = "sim"\nurl = "sim://"\n'
                   '[[devices]]\nid = "gsme"\nrole = "GSME"\neui64 = "00:0d:6f:00:0a:bc:00:02"\n'
                   'radio = "sim"\n'
                   '[[faults]]\nkind = "drop"\ndevice = "gsme"\ndirection = "to_device"\n')
    with pytest.raises(SystemExit) as partial:
        main(["devices", "--radio", f"sim://?rig={rig}", "--json"])
    out, err = capsys.readouterr()
    assert partial.value.code == 1
    [row] = json.loads(out)["devices"]
    assert row["eui64"] == "00:0d:6f:00:0a:bc:00:02" and not row["interviewed"]
    assert "incomplete: 00:0d:6f:00:0a:bc:00:02" in err

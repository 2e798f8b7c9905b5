"""The default sim:// bench: zigpy interviews every role to completion, and `hanrig devices` lists them."""

from __future__ import annotations

import asyncio
import json

import pytest
import zigpy.types as zigpy_t
from click.testing import CliRunner
from zigpy.zcl.clusters.general import Basic, Ota

from gateway.cli import cli
from hal.radio import interview_complete
from hal.roles import Role
from hal.sim.config import DEFAULT_BENCH_EUI64, DEFAULT_IMAGE_TYPES


async def test_every_role_is_interviewed_on_the_se_profile(sim_bench):
    for role, eui in DEFAULT_BENCH_EUI64.items():
        device = sim_bench.get_device(ieee=zigpy_t.EUI64.convert(eui))
        assert interview_complete(device), role
        endpoint = device.endpoints[1]
        assert endpoint.profile_id == 0x0109
        assert device.model == f"SIM-{role.value}"
        assert device.manufacturer == "hanrig-sim"
        assert Ota.cluster_id in endpoint.out_clusters
        assert (device.node_desc.is_end_device) == (role is Role.GSME)


async def test_basic_and_ota_attributes_read_through_zigpy(sim_bench):
    ihd = sim_bench.han.device("ihd")
    device = sim_bench.get_device(ieee=ihd.ieee)
    basic = device.endpoints[1].in_clusters[Basic.cluster_id]
    success, failure = await basic.read_attributes(
        ["zcl_version", "stack_version", "hw_version", "date_code", "power_source", "sw_build_id"],
        allow_cache=False,
    )
    assert failure == {}
    assert success["hw_version"] == 1 and success["sw_build_id"] == "00010000"
    ota = device.endpoints[1].out_clusters[Ota.cluster_id]
    success, _ = await ota.read_attributes(
        ["current_file_version", "manufacturer_id", "image_type_id"], allow_cache=False
    )
    assert success == {
        "current_file_version": 0x00010000,
        "manufacturer_id": 0x1234,
        "image_type_id": DEFAULT_IMAGE_TYPES[Role.IHD],
    }


async def test_sleepy_gsme_answers_on_its_poll(sim_bench):
    gsme = sim_bench.han.device("gsme")
    device = sim_bench.get_device(ieee=gsme.ieee)
    loop = asyncio.get_running_loop()
    start = loop.time()
    success, _ = (
        await device.endpoints[1].in_clusters[Basic.cluster_id].read_attributes(["model"], allow_cache=False)
    )
    waited = loop.time() - start
    assert success == {"model": "SIM-GSME"}
    # the request sat in the parent's indirect queue until the GSME's next poll (7.5 s interval)
    assert 0.0 < waited <= gsme.spec.sim.poll_interval_s + 0.5


def test_devices_cli_lists_all_five_with_basic_attributes():
    result = CliRunner().invoke(cli, ["devices", "--radio", "sim://", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    by_eui = {rec["eui64"]: rec for rec in document["devices"]}
    assert set(by_eui) == set(DEFAULT_BENCH_EUI64.values())
    for role, eui in DEFAULT_BENCH_EUI64.items():
        rec = by_eui[eui]
        assert rec["role"] == role.value
        assert rec["basic"]["model"] == f"SIM-{role.value}"
        assert rec["basic"]["manufacturer"] == "hanrig-sim"
        assert rec["basic"]["zcl_version"] == 3
        assert rec["firmware_version"] == "0x00010000" and rec["firmware_version_int"] == 0x00010000
        assert rec["image_type_int"] == DEFAULT_IMAGE_TYPES[role]
        assert rec["nwk"] == f"0x{rec['nwk_int']:04x}"
    assert by_eui[DEFAULT_BENCH_EUI64[Role.GSME]]["basic"]["power_source"] == "Battery"


@pytest.mark.parametrize(
    "url", ["bogus://x", "sim://?seed=abc", "ezsp:///dev/ttyUSB0?baudrate=fast", "sim://?colour=red"]
)
def test_devices_cli_bad_url_is_one_line_exit_2(url):
    from gateway.cli import main

    with pytest.raises(SystemExit) as info:
        main(["devices", "--radio", url])
    assert info.value.code == 2

"""The gateway session over sim://: devices by role (bound or inferred from SE descriptors), lookup."""

from __future__ import annotations

import pytest

from gateway.exceptions import DeviceNotFound
from gateway.session import DeviceBinding, Gateway, RadioEndpoint, infer_role
from hal.roles import Role
from hal.sim.config import DEFAULT_BENCH_EUI64

pytestmark = pytest.mark.looptime


async def test_roles_are_inferred_from_se_descriptors():
    async with Gateway.open(["sim://"]) as gw:
        devices = gw.devices()
        assert {d.eui64: d.role for d in devices} == {eui: role for role, eui in DEFAULT_BENCH_EUI64.items()}
        for device in devices:
            assert infer_role(device.zigpy_device) == device.role
        [gsme] = gw.devices(role="GSME")
        assert gsme.is_sleepy
        [esme] = gw.devices(role=Role.ESME)
        assert not esme.is_sleepy


async def test_bindings_name_devices_and_lookup_accepts_any_eui_spelling():
    bindings = [DeviceBinding(id="my-ihd", role=Role.IHD, eui64="00:0D:6F:00:0A:BC:00:03")]
    async with Gateway.open([RadioEndpoint(id="bench", url="sim://")], bindings) as gw:
        ihd = gw.device("my-ihd")
        assert ihd.role is Role.IHD and ihd.radio_id == "bench"
        assert gw.device("000d6f000abc0003") == ihd
        assert gw.device("00-0d-6f-00-0a-bc-00-03") == ihd
        assert ihd.endpoint.profile_id == 0x0109


async def test_unknown_device_names_what_joined():
    async with Gateway.open(["sim://"]) as gw:
        with pytest.raises(DeviceNotFound) as info:
            gw.device("00:11:22:33:44:55:66:77")
        assert "00:11:22:33:44:55:66:77" in str(info.value)
        assert "IHD" in str(info.value)
        assert info.value.exit_code == 3

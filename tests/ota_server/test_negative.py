"""SECMP0007 negative tests: every bad image is refused by the simulated clients the way the ZCL OTA
cluster says, and a deliberately permissive client FAILs each case for the right reason."""

from __future__ import annotations

import pytest
from ota_server_testlib import OLD_VERSION, bench, open_gateway, virtual_device

from firmware_images import DIRECTORY as SAMPLES
from gateway.exceptions import OtaPolicyError
from ota.negative import NEGATIVE_CASES, Expected, NegativeCase
from ota.outcomes import Reason

pytestmark = pytest.mark.looptime

SUPPLIER_CERT = (SAMPLES / "TEST-ONLY-supplier-signing-cert.pem").read_bytes()
# GB devices holding the Supplier's key: they check the signature as well as the integrity code
GB_CLIENT = {"ota_profile": "gbcs", "supplier_public_key": SUPPLIER_CERT}


def gb_bench(**extra):
    from hal.sim.config import OtaProfile

    params = {**GB_CLIENT, "ota_profile": OtaProfile.GBCS, **extra}
    return bench(roles=("ihd", "ppmid"), ihd=params, ppmid=params)


@pytest.mark.parametrize("role", ["ihd", "ppmid"])  # Zigbee-layout and GBCS-layout images
async def test_every_case_is_refused_as_the_cluster_defines(role):
    async with open_gateway(gb_bench()) as gw:
        device = gw.devices(role=role.upper())[0]
        for case in NegativeCase:
            outcome = await gw.ota.push_negative(device, case)
            assert outcome.passed, (case, outcome.reason)
            assert outcome.observed == NEGATIVE_CASES[case].expected.value
            if outcome.expected is Expected.NOT_REQUESTED:
                assert outcome.blocks == 0 and outcome.reason_code is Reason.DEVICE_NOT_REQUESTED
            elif outcome.expected is Expected.INVALID_IMAGE:
                assert outcome.zcl_status == 0x96 and outcome.reason_code is Reason.DEVICE_INVALID_IMAGE
            else:
                assert outcome.version_after == OLD_VERSION
                assert outcome.reason_code is Reason.DEVICE_POWER_LOSS
            assert "\n" not in outcome.reason
            client = virtual_device(gw, role).ota
            assert client.current_file_version == OLD_VERSION  # still runs what it ran
            # the device's own words (its own reader, not ota.read_image), for the right fault
            says = DEVICE_SAYS[case]
            if case is NegativeCase.CORRUPTED_IMAGE:  # Zigbee layout: integrity code; GBCS: the signature
                says = "integrity code does not match" if role == "ihd" else "supplier-signature"
            assert says in client.outcome.reason, (case, client.outcome.reason)


DEVICE_SAYS = {
    NegativeCase.WRONG_MANUFACTURER: "",  # it ignores the Image Notify for another manufacturer
    NegativeCase.WRONG_IMAGE_TYPE: "",
    NegativeCase.HARDWARE_OUT_OF_RANGE: "hardware version 1 outside 2..65535",
    NegativeCase.OLDER_VERSION: "offered version 0x0000ffff is older than 0x00010000",
    NegativeCase.CORRUPTED_IMAGE: "",  # integrity code (Zigbee layout) or signature (GBCS layout)
    NegativeCase.UNKNOWN_SUPPLIER: "supplier-signature: the Supplier signature over the Manufacturer Image "
                                   "does not verify",
    NegativeCase.TRUNCATED: "total image size",
    NegativeCase.POWER_LOSS: "",
}


PERMISSIVE_FAILS = {
    NegativeCase.WRONG_MANUFACTURER: ("upgrade-end-success", Reason.DEVICE_ACCEPTED),
    NegativeCase.WRONG_IMAGE_TYPE: ("upgrade-end-success", Reason.DEVICE_ACCEPTED),
    NegativeCase.HARDWARE_OUT_OF_RANGE: ("upgrade-end-success", Reason.DEVICE_ACCEPTED),
    NegativeCase.OLDER_VERSION: ("upgrade-end-success", Reason.DEVICE_ACCEPTED),
    NegativeCase.CORRUPTED_IMAGE: ("upgrade-end-success", Reason.DEVICE_ACCEPTED),
    NegativeCase.UNKNOWN_SUPPLIER: ("upgrade-end-success", Reason.DEVICE_ACCEPTED),
    NegativeCase.TRUNCATED: ("upgrade-end-success", Reason.DEVICE_ACCEPTED),
    NegativeCase.POWER_LOSS: ("runs-partial-image", Reason.DEVICE_PARTIAL_IMAGE),
}


async def test_a_permissive_client_fails_every_case_for_the_right_reason():
    from hal.sim.ota_client import OtaFault

    for case, (observed, reason_code) in PERMISSIVE_FAILS.items():
        # a fresh bench per case: the permissive device would otherwise run what it accepted before
        async with open_gateway(gb_bench(ota_fault=OtaFault.PERMISSIVE)) as gw:
            device = gw.devices(role="IHD")[0]
            outcome = await gw.ota.push_negative(device, case)
            assert not outcome.passed, case
            assert (outcome.observed, outcome.reason_code) == (observed, reason_code), (case, outcome.reason)
            assert outcome.reason.startswith(f"expected {NEGATIVE_CASES[case].expected.value} (")
            if case is NegativeCase.POWER_LOSS:
                assert "runs 0x00010100 after losing power at offset" in outcome.reason
            else:
                assert outcome.blocks > 0 and outcome.zcl_status == 0x00


async def test_a_case_needs_something_to_break_and_an_operator_who_answers():
    import io

    from gateway.operator import ConsoleOperator, OperatorTimeout

    async with open_gateway(bench(roles=("ihd",))) as gw:
        device = gw.devices(role="IHD")[0]
        # on hardware the power-cycle is the operator's; nobody at the console: a one-line timeout
        silent = ConsoleOperator(out=io.StringIO(), source=io.StringIO(""))
        with pytest.raises(OperatorTimeout, match="no input to confirm power-cycle"):
            await gw.ota.push_negative(device, NegativeCase.POWER_LOSS, operator=silent)
        assert "OPERATOR: power-cycle the IHD 00:0d:6f:00:0a:bc:00:03 now" in silent.out.getvalue()
        from ota import build_image, read_image

        plain = read_image(build_image(b"\x01" * 500, manufacturer_code=0x1234, image_type=0x0101,
                                       file_version=0x00020000), name="plain.ota")
        with pytest.raises(OtaPolicyError, match=r"plain\.ota carries no Supplier signature to replace"):
            await gw.ota.push_negative(device, NegativeCase.UNKNOWN_SUPPLIER, image=plain)


async def test_the_console_prompt_times_out_when_nobody_answers():
    import io
    import os

    from gateway.operator import Action, ConsoleOperator, OperatorTimeout, Prompt

    class Device:  # what a prompt needs of a HanDevice
        id = eui64 = "00:0d:6f:00:0a:bc:00:03"
        role = None

    read_end, write_end = os.pipe()  # nobody ever writes: the operator walked away
    with os.fdopen(read_end) as source:
        console = ConsoleOperator(out=io.StringIO(), source=source)
        with pytest.raises(OperatorTimeout, match="nobody confirmed power-cycle of 00:0d:6f:00:0a:bc:00:03 "
                                                  "within 0 s"):
            await console.ask(Prompt(Action.POWER_CYCLE, Device(), timeout_s=0.2))
        os.write(write_end, b"\n")  # a late Enter: the abandoned reader ends, nothing is left waiting
    os.close(write_end)

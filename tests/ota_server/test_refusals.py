"""Every wrong image is refused before a byte is sent, each with a one-line reason."""

from __future__ import annotations

import pytest
from ota_server_testlib import NEW_VERSION, OLD_VERSION, bench, open_gateway, sample
from test_push import block_responses

from firmware_images import DIRECTORY as SAMPLES
from ota import build_image, load_private_key, read_image
from ota.campaign import Phase, TransferAlert
from ota.outcomes import Reason

pytestmark = pytest.mark.looptime

KEY = load_private_key((SAMPLES / "TEST-ONLY-supplier-signing-key.pem").read_bytes())


def image_from(data: bytes, name: str = "built.ota"):
    return read_image(data, name=name)


def ihd_image(*, version: int = NEW_VERSION, sign: bool = True, hw: tuple[int, int] = (1, 3),
              manufacturer: int = 0x1234, image_type: int = 0x0101) -> bytes:
    return build_image(b"\x5a" * 4000, manufacturer_code=manufacturer, image_type=image_type,
                       file_version=version, hw_min=hw[0], hw_max=hw[1], sign_key=KEY if sign else None,
                       integrity_code=True)


async def refuse(gw, image, **push_kwargs):
    report = await gw.ota.push(gw.devices(role="IHD"), image=image, **push_kwargs)
    (outcome,) = report.outcomes
    assert outcome.phase is Phase.REFUSED and not report.ok
    assert outcome.bytes_sent == 0 and "\n" not in outcome.reason
    assert block_responses(gw, "ihd") == []  # not one byte of the image went out
    assert gw.ota.server("radio0").transfer(gw.devices(role="IHD")[0].zigpy_device.ieee) is None
    return outcome


async def test_refusals_on_one_bench():
    async with open_gateway(bench(ihd={"hardware_version": 7})) as gw:
        other_type = read_image(sample("ppmid").read_bytes(), name=sample("ppmid").name)
        outcome = await refuse(gw, other_type)
        assert "is for 0x1234/0x0084, the device is 0x1234/0x0101" in outcome.reason
        assert outcome.reason_code is Reason.IMAGE_TYPE and outcome.code is TransferAlert.IMAGE_DISCARDED

        other_maker = image_from(ihd_image(manufacturer=0x4321))
        outcome = await refuse(gw, other_maker)
        assert "is for 0x4321/0x0101" in outcome.reason and outcome.reason_code is Reason.MANUFACTURER

        outcome = await refuse(gw, image_from(ihd_image(hw=(1, 3))))
        assert outcome.code is TransferAlert.HARDWARE_VERSION_MISMATCH
        assert "hardware 1..3, the device is hardware 7" in outcome.reason
        assert outcome.reason_code is Reason.HARDWARE_RANGE

        outcome = await refuse(gw, image_from(ihd_image(hw=(1, 9), sign=False)))
        assert "is unsigned and the rig requires Supplier signatures" in outcome.reason
        assert outcome.reason_code is Reason.UNSIGNED

        data = bytearray(ihd_image(hw=(1, 9)))
        signed = read_image(bytes(data))
        data[signed.signature_offset + 5] ^= 0x01  # a broken Supplier signature
        outcome = await refuse(gw, image_from(bytes(data)))
        assert "Supplier signature does not verify" in outcome.reason
        assert outcome.reason_code is Reason.SIGNATURE

        outcome = await refuse(gw, image_from(ihd_image(hw=(1, 9), version=OLD_VERSION - 1)))
        assert "downgrade 0x00010000 -> 0x0000ffff needs --allow-downgrade" in outcome.reason
        assert outcome.reason_code is Reason.DOWNGRADE

        outcome = await refuse(gw, image_from(ihd_image(hw=(1, 9), version=OLD_VERSION)))
        assert "already runs 0x00010000" in outcome.reason and outcome.reason_code is Reason.SAME_VERSION
        assert outcome.to_json()["reason_code"] == "same-version"

        gw.ota.configure(cpl=frozenset({"00" * 32}))
        outcome = await refuse(gw, image_from(ihd_image(hw=(1, 9))))
        assert outcome.reason_code is Reason.CPL and "is not on the CPL list" in outcome.reason


async def test_downgrade_with_permission_and_unsigned_when_not_required():
    # a device that takes downgrades (the simulated clients refuse older versions unless told otherwise)
    async with open_gateway(bench(ihd={"firmware_version": NEW_VERSION, "accept_downgrade": True})) as gw:
        old = read_image(sample("ihd", OLD_VERSION).read_bytes(), name=sample("ihd", OLD_VERSION).name)
        report = await gw.ota.push(gw.devices(role="IHD"), image=old, allow_downgrade=True)
        (outcome,) = report.outcomes
        assert outcome.phase is Phase.ACTIVATED, outcome.reason
        assert (outcome.version_before, outcome.version_after) == (NEW_VERSION, OLD_VERSION)

        gw.ota.configure(signatures_required=False)
        unsigned = image_from(ihd_image(sign=False, version=0x00020000))
        report = await gw.ota.push(gw.devices(role="IHD"), image=unsigned)
        assert report.outcomes[0].phase is Phase.ACTIVATED, report.outcomes[0].reason
        assert report.outcomes[0].version_after == 0x00020000


async def test_a_device_that_states_a_hardware_version_outside_the_range_is_refused_by_the_server():
    """The server's own check at Query Next Image (the device says its hardware version there)."""
    async with open_gateway(bench(ihd={"hardware_version": 7})) as gw:
        from ota.campaign import Campaign, CampaignTarget
        from ota.server import Offer

        device = gw.devices(role="IHD")[0]
        offer = Offer(image_from(ihd_image(hw=(1, 3))))
        target = CampaignTarget(gw.ota.server("radio0"), device.zigpy_device, offer, device.id, "IHD",
                                "radio0", OLD_VERSION)
        (outcome,) = await Campaign([target]).run()
        assert outcome.code is TransferAlert.HARDWARE_VERSION_MISMATCH and outcome.phase is Phase.FAILED
        assert "hardware version 7 outside" in outcome.reason and outcome.reason_code is Reason.HARDWARE_RANGE
        assert block_responses(gw, "ihd") == []


def test_the_readme_shows_the_outcome_code_table():
    from pathlib import Path

    from ota.outcomes import OUTCOME_CODES, Reason, markdown_table

    assert set(OUTCOME_CODES) == set(Reason)
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert markdown_table() in readme

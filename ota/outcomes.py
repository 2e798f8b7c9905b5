"""OTA outcome codes (SECMP0007): why a device ended where it did, as one table.

Every OTA outcome carries a :class:`Reason`. :data:`OUTCOME_CODES` maps each reason to who decided it
(the host before sending a byte, or the device by what it sent), the Firmware Transfer Alert response
code the hub reports for it (GBCS CCS08: 0 success, 1 image discarded, 2 hardware-version mismatch,
3 file transfer failure), the ZCL OTA status the device used where the device decided (ZCL 11.13:
Upgrade End Request status 0x96 INVALID_IMAGE, 0x95 ABORT), and what it means. The README's
"OTA outcome codes" table is this table; a test keeps them equal.

Our rules for the CCS08 column: an image the hub will not offer for the device's identity, version,
signature or CPL listing is "image discarded" (the hub discards it for that device); a hardware range
the device does not fall in is "hardware-version mismatch"; a device that cannot be reached or stops
making progress is "file transfer failure"; a device that refuses the image itself is "image discarded"
(it said so with its Upgrade End status, or by never requesting it).
"""

from __future__ import annotations

import dataclasses
import enum

from zigpy.zcl import foundation


class TransferAlert(enum.IntEnum):
    """The hub's Firmware Transfer Alert response codes (GBCS CCS08), one per device."""

    SUCCESS = 0
    IMAGE_DISCARDED = 1
    HARDWARE_VERSION_MISMATCH = 2
    FILE_TRANSFER_FAILURE = 3

    @property
    def label(self) -> str:
        return self.name.lower().replace("_", "-")


class Decider(enum.StrEnum):
    HOST = "host"  # hanrig refused or stopped before (or instead of) the device deciding
    DEVICE = "device"  # what the device sent decided it


class Reason(enum.StrEnum):
    """Why an OTA outcome is what it is; one row of :data:`OUTCOME_CODES` each."""

    ACTIVATED = "activated"
    HELD = "held"
    SCHEDULED = "scheduled"
    UP_TO_DATE = "up-to-date"
    NO_OTA_CLIENT = "no-ota-client"
    NO_KEY_ESTABLISHMENT = "no-key-establishment"
    MANUFACTURER = "manufacturer"
    IMAGE_TYPE = "image-type"
    HARDWARE_RANGE = "hardware-range"
    DOWNGRADE = "downgrade"
    SAME_VERSION = "same-version"
    UNSIGNED = "unsigned"
    SIGNATURE = "signature"
    CPL = "cpl"
    TEST_KEY = "test-key"
    UNREACHABLE = "unreachable"
    TRANSFER_STALLED = "transfer-stalled"
    DEVICE_NOT_REQUESTED = "device-not-requested"
    DEVICE_INVALID_IMAGE = "device-invalid-image"
    DEVICE_ABORT = "device-abort"
    DEVICE_ACCEPTED = "device-accepted"
    DEVICE_POWER_LOSS = "device-power-loss"
    DEVICE_PARTIAL_IMAGE = "device-partial-image"
    ACTIVATION_FAILED = "activation-failed"


@dataclasses.dataclass(frozen=True)
class OutcomeCode:
    """One row: who decided, the CCS08 code, the device's ZCL status (device rows), the meaning."""

    decider: Decider
    alert: TransferAlert | None
    zcl_status: foundation.Status | None
    meaning: str


_HOST, _DEVICE = Decider.HOST, Decider.DEVICE
_OK, _DISCARDED = TransferAlert.SUCCESS, TransferAlert.IMAGE_DISCARDED
_HW, _FAILURE = TransferAlert.HARDWARE_VERSION_MISMATCH, TransferAlert.FILE_TRANSFER_FAILURE
_Status = foundation.Status

OUTCOME_CODES: dict[Reason, OutcomeCode] = {
    Reason.ACTIVATED: OutcomeCode(_DEVICE, _OK, _Status.SUCCESS,
                                  "downloaded, activated, rejoined and reports the image's version"),
    Reason.HELD: OutcomeCode(_DEVICE, _OK, _Status.SUCCESS, "downloaded; waits for an activate command"),
    Reason.SCHEDULED: OutcomeCode(_DEVICE, _OK, _Status.SUCCESS,
                                  "downloaded; activates at a UTC time beyond the wait"),
    Reason.UP_TO_DATE: OutcomeCode(_HOST, None, None, "nothing newer in the catalogue; not a failure"),
    Reason.NO_OTA_CLIENT: OutcomeCode(_HOST, None, None, "the device has no OTA Upgrade client"),
    Reason.NO_KEY_ESTABLISHMENT: OutcomeCode(_HOST, _FAILURE, None,
                                             "the rig requires CBKE and the device holds no link key "
                                             "(policies.require_cbke)"),
    Reason.MANUFACTURER: OutcomeCode(_HOST, _DISCARDED, None,
                                     "the image is for another manufacturer code"),
    Reason.IMAGE_TYPE: OutcomeCode(_HOST, _DISCARDED, None, "the image is for another image type"),
    Reason.HARDWARE_RANGE: OutcomeCode(_HOST, _HW, None,
                                       "the device's hardware version is outside the image's range"),
    Reason.DOWNGRADE: OutcomeCode(_HOST, _DISCARDED, None,
                                  "older than what the device runs, and downgrades are not allowed"),
    Reason.SAME_VERSION: OutcomeCode(_HOST, _DISCARDED, None, "the device already runs this version"),
    Reason.UNSIGNED: OutcomeCode(_HOST, _DISCARDED, None,
                                 "no Supplier signature, and the rig requires one"),
    Reason.SIGNATURE: OutcomeCode(_HOST, _DISCARDED, None,
                                  "the Supplier signature does not verify against the configured key"),
    Reason.CPL: OutcomeCode(_HOST, _DISCARDED, None,
                            "the CPL does not list the image's hash for this manufacturer, model, version"),
    Reason.TEST_KEY: OutcomeCode(_HOST, _DISCARDED, None,
                                 "signed with the published TEST-ONLY key, on a real radio, without "
                                 "--allow-test-keys"),
    Reason.UNREACHABLE: OutcomeCode(_HOST, _FAILURE, None,
                                    "the device did not answer (OTA client attributes not read)"),
    Reason.TRANSFER_STALLED: OutcomeCode(_HOST, _FAILURE, None,
                                         "the device stopped making progress or kept aborting"),
    Reason.DEVICE_NOT_REQUESTED: OutcomeCode(_DEVICE, _DISCARDED, None,
                                             "the device queried but never requested a block"),
    Reason.DEVICE_INVALID_IMAGE: OutcomeCode(_DEVICE, _DISCARDED, _Status.INVALID_IMAGE,
                                             "the device refused the downloaded image (Upgrade End "
                                             "INVALID_IMAGE)"),
    Reason.DEVICE_ABORT: OutcomeCode(_DEVICE, _FAILURE, _Status.ABORT,
                                     "the device abandoned the download (Upgrade End ABORT)"),
    Reason.DEVICE_ACCEPTED: OutcomeCode(_DEVICE, _OK, _Status.SUCCESS,
                                        "the device accepted the image (Upgrade End SUCCESS)"),
    Reason.DEVICE_POWER_LOSS: OutcomeCode(_DEVICE, _FAILURE, None,
                                          "power lost mid-download; back on its old version, holding no "
                                          "image"),
    Reason.DEVICE_PARTIAL_IMAGE: OutcomeCode(_DEVICE, _FAILURE, None,
                                             "runs or holds an image it never finished downloading"),
    Reason.ACTIVATION_FAILED: OutcomeCode(_DEVICE, _FAILURE, None,
                                          "activated but did not rejoin or report the new version"),
}


def alert_for(reason: Reason) -> TransferAlert | None:
    """The CCS08 code the hub reports for ``reason``."""
    return OUTCOME_CODES[reason].alert


def markdown_table() -> str:
    """:data:`OUTCOME_CODES` as the README shows it."""
    rows = ["| reason | decided by | CCS08 alert | ZCL status | meaning |", "|---|---|---|---|---|"]
    for reason, code in OUTCOME_CODES.items():
        alert = "—" if code.alert is None else f"{int(code.alert)} {code.alert.label}"
        status = "—" if code.zcl_status is None else f"0x{int(code.zcl_status):02X} {code.zcl_status.name}"
        rows.append(f"| `{reason.value}` | {code.decider.value} | {alert} | {status} | {code.meaning} |")
    return "\n".join(rows)

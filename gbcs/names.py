"""Names GBCS gives to numbers: message codes (use cases) and alert codes.

Only the names; the layouts live in ``wire`` and ``content``. The tables cover the use cases hanrig
touches and their neighbours; a code missing here is still read (its name is just ``None``).
"""

from __future__ import annotations

import enum

# Message code (Grouping Header other-information) -> (use case, what it does). GBCS table 13.3.
USE_CASES: dict[int, tuple[str, str]] = {
    0x0001: ("CCS01", "Add Device to CHF Device Log"),
    0x0002: ("CCS02", "Remove Device from CHF Device Log"),
    0x0007: ("CS01a", "Apply Prepayment Top Up to an ESME"),
    0x0008: ("CS02a", "Provide Security Credentials Details"),
    0x000A: ("CS02c", "Issue Security Credentials"),
    0x000B: ("CS02d", "Update Device Certificate on Device"),
    0x000C: ("CS02e", "Provide Device Certificate from Device"),
    0x000D: ("CS03A1", "Method A Join (Meter)"),
    0x000E: ("CS03B", "Method B Join"),
    0x000F: ("CS04AC", "Method A or C Unjoin"),
    0x0010: ("CS04B", "Method B Unjoin"),
    0x0012: ("CS06", "Activate Firmware"),
    0x0013: ("CS07", "Read Device Join Details"),
    0x0019: ("ECS01a", "Set Tariff and Price on ESME"),
    0x001A: ("ECS02", "Set ESME Payment Mode to Credit"),
    0x001B: ("ECS03", "Set ESME Payment Mode to Prepayment"),
    0x0026: ("ECS17a", "Read ESME Energy Registers (Export Energy)"),
    0x0027: ("ECS17b", "Read ESME Energy Registers (Import Energy)"),
    0x0028: ("ECS17c", "Read ESME Energy Registers (Power)"),
    0x004F: ("ECS42", "Remotely Close the Load Switch on the ESME"),
    0x0050: ("ECS43", "Remotely Open the Load Switch on the ESME"),
    0x0059: ("ECS52", "Read ESME/Comms Hub Firmware Version"),
    0x006B: ("GCS01a", "Set Tariff and Price on GSME"),
    0x006C: ("GCS02", "Set GSME Payment Mode to Credit"),
    0x006D: ("GCS03", "Set GSME Payment Mode to Prepayment"),
    0x0071: ("GCS07", "Send Message to GSME"),
    0x0074: ("GCS13a", "Read GSME/GPF Instantaneous Consumption Register"),
    0x0075: ("GCS14", "Read GSME Prepayment Registers"),
    0x0077: ("GCS16a", "Read GSME Daily Read Log"),
    0x0078: ("GCS17", "Read GSME Profile Data Log"),
    0x007F: ("GCS28", "Set Clock on GSME"),
    0x0084: ("GCS38", "Read GSME Firmware Version"),
    0x008B: ("GCS53", "Push Billing Data Log as an Alert"),
    0x00AB: ("CS03A2", "Method A Join (non Meter)"),
    0x00AF: ("CS03C", "Method C Join"),
    0x00B2: ("GCS62", "Backup GPF Device Log"),
    0x00CA: ("CS06 alert", "Future Dated Firmware Activation Alert"),
    0x00CB: ("CS02b alert", "Future Dated Update Security Credentials Alert"),
    0x00CC: ("DLMS future-dated alert", "Future Dated Execution of Instruction Alert (DLMS COSEM)"),
    0x00CD: ("GBZ future-dated alert", "Future Dated Execution of Instruction Alert (GBZ)"),
    0x00CE: ("ESME firmware receipt alert", "Firmware Distribution Receipt Alert (ESME)"),
    0x00CF: ("GSME firmware receipt alert", "Firmware Distribution Receipt Alert (GSME)"),
    0x0100: ("CS02b", "Update Security Credentials (rootBySupplier)"),
    0x0101: ("CS02b", "Update Security Credentials (rootByWanProvider)"),
    0x0102: ("CS02b", "Update Security Credentials (supplierBySupplier)"),
    0x0103: ("CS02b", "Update Security Credentials (networkOperatorByNetworkOperator)"),
    0x0104: ("CS02b", "Update Security Credentials (accessControlBrokerByACB)"),
    0x0105: ("CS02b", "Update Security Credentials (wanProviderByWanProvider)"),
    0x0106: ("CS02b", "Update Security Credentials (transCoSByTransCoS)"),
    0x0107: ("CS02b", "Update Security Credentials (supplierByTransCoS)"),
    0x0108: ("CS02b", "Update Security Credentials (anyExceptAbnormalRootByRecovery)"),
    0x0109: ("CS02b", "Update Security Credentials (anyByContingency)"),
    0x0128: ("CCS08", "Firmware Transfer Alert"),
    0x0129: ("CS08", "Read PPMID/HCALCS Firmware Version"),
    0x1000: ("generic critical alert", "Generic Critical Alert"),
    0x1001: ("generic non-critical alert", "Generic Non Critical Alert"),
}

# Alert code -> name (GBCS table 16.2); the ones the release's use cases and storm tests meet.
ALERT_NAMES: dict[int, str] = {
    0x8F01: "Active Power Import above Load Limit Threshold",
    0x8F0A: "Billing Data Log Updated",
    0x8F12: "CHF Device Log Changed",
    0x8F1C: "Firmware Verification Failed",
    0x8F1F: "Low Battery Capacity",
    0x8F30: "Source Does not have Authority for Command",
    0x8F35: "Supply Outage Restored",
    0x8F3D: "Trusted Source Authentication Failure",
    0x8F43: "Change in the executing Firmware version",
    0x8F48: "Device joining failed",
    0x8F49: "Device joining succeeded",
    0x8F57: "Supply interrupted",
    0x8F60: "Unusual numbers of malformed, out-of-order or unexpected Commands received",
    0x8F66: "Future-dated HAN Interface Command Successfully Actioned",
    0x8F67: "Future-dated HAN Interface Command not Successfully Actioned",
    0x8F70: "Update Security Credentials",
    0x8F72: "Firmware Verification Successful",
    0x8F84: "Failure to Deliver Remote Party Message to ESME",
    0x8F89: "Firmware Transfer Alert: failure",
    0x8F8A: "Firmware Transfer Alert: success",
    0x8F8B: "Read Firmware Version Alert",
    0x8071: "GPF Device Log Changed",
    0x8183: "Device joined SMHAN",
    0x81A0: "Smart Meter Integrity Issue - Warning",
}


class Kind(enum.StrEnum):
    """What the CRA flag says a message is."""

    COMMAND = "command"
    RESPONSE = "response"
    ALERT = "alert"


CRA_KINDS = {1: Kind.COMMAND, 2: Kind.RESPONSE, 3: Kind.ALERT}


def use_case(message_code: int) -> str | None:
    """``"GCS13a"`` for 0x0074; None for a code this table does not name."""
    entry = USE_CASES.get(message_code)
    return entry[0] if entry else None


def use_case_title(message_code: int) -> str | None:
    entry = USE_CASES.get(message_code)
    return entry[1] if entry else None


def alert_name(alert_code: int) -> str | None:
    return ALERT_NAMES.get(alert_code)

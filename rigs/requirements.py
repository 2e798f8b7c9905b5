"""Which requirement each step kind evidences: one table for reports and evidence packs.

A certifier reads results by requirement, not by step. Each plan step kind names the SECMP change it
evidences and the ZCL / GBCS clauses its checks come from; a measurement names its own clause in its
description where it has a narrower one (``ota_negative``: one clause per case). Steps that evidence no
SECMP (the join) name the Zigbee behaviour they check. Reports group by :attr:`Requirement.id` and show
coverage: which requirements the plan exercised, passed, failed or did not run.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Requirement:
    id: str  # e.g. "SECMP0007"
    title: str
    clauses: str  # ZCL / GBCS clauses the checks come from


SECMP0007 = Requirement("SECMP0007", "OTA firmware to IHD, PPMID and HCALCS",
                        "ZCL 11 OTA Upgrade (11.4 file, 11.13 commands); GBCS CCS08 Firmware Transfer Alert")
REQUIREMENTS: dict[str, Requirement] = {r.id: r for r in (
    Requirement("HAN-JOIN", "Devices join the HAN and are interviewed",
                "Zigbee PRO association and ZDO discovery (Node/Simple Descriptor)"),
    Requirement("SECMP0056", "Basic-cluster attributes of HAN devices available",
                "ZCL 3.2.2.2 Basic attributes; per-role table gateway.inventory.REQUIREMENTS"),
    SECMP0007,
    Requirement("SECMP0024", "Firmware deployed now, activated later",
                "ZCL 11.13.9 Upgrade End Response upgrade time; GBCS CS06 Activate Firmware"),
    Requirement("SECMP0015", "GPF gas timestamps, source and reliability",
                "GBCS GPF timestamping; DLMS clock status (our rule GpfPolicy)"),
    Requirement("SECMP0063", "Network Operator certificate belongs to the right network operator",
                "GBCS 12 certificate profile; SMKI trust anchor cells"),
    Requirement("SECMP0046", "HCALCS load switch commanded by the network operator",
                "ZCL SE DRLC cluster 0x0701 (Load Control Event, Report Event Status)"),
    Requirement("SECMP0062", "Alert storms throttled without losing count",
                "our rule [policies] alerts (window, threshold, forward period)"),
    Requirement("COT", "Change of tenancy hides the previous tenant's data",
                "GBCS GCS09; ZCL SE Device Management 0x0708 Publish Change of Tenancy"),
    Requirement("ZSE-CBKE", "Certificate-based key establishment with the hub",
                "ZCL Key Establishment cluster 0x0800; Zigbee SE CBKE (ECQV implicit certificates)"),
    Requirement("OPERATOR", "Operator actions at the bench", "prompted and confirmed (not a device check)"),
)}

# step kind (rigs.rigfile.StepKind value) -> the requirements it evidences, the first being its home
STEP_REQUIREMENTS: dict[str, tuple[str, ...]] = {
    "join": ("HAN-JOIN",),
    "inventory": ("SECMP0056",),
    "ota": ("SECMP0007", "SECMP0024"),
    "ota_negative": ("SECMP0007",),
    "gas": ("SECMP0015",),
    "certs": ("SECMP0063",),
    "loadcontrol": ("SECMP0046",),
    "alerts": ("SECMP0062",),
    "cot": ("COT",),
    "prompt": ("OPERATOR",),
    "cbke": ("ZSE-CBKE",),
    "cs06": ("SECMP0024",),
}


def requirements_of(step_name: str) -> tuple[Requirement, ...]:
    """The requirements a step of that kind evidences (none for a kind this table does not know)."""
    return tuple(REQUIREMENTS[r] for r in STEP_REQUIREMENTS.get(step_name, ()))

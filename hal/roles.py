"""The GB HAN device roles hanrig knows, defined once for the simulator, the gateway and rig files."""

from __future__ import annotations

import enum


class Role(enum.StrEnum):
    """A GB HAN device role; the value is how rig files and the CLI spell it."""

    ESME = "ESME"
    GSME = "GSME"
    IHD = "IHD"
    PPMID = "PPMID"
    HCALCS = "HCALCS"

"""The hub's policies, in the gateway's own types: what a rig file's ``[policies]`` sets (``rigs.rigfile``
parses straight into these) and what ``Gateway.configure`` applies to a session.

* ``ota``: signatures required, activation (now | hold | at), downgrades, concurrency (SECMP0007, SECMP0024);
* ``alerts``: the SECMP0062 throttle;
* ``gpf``: the SECMP0015 clock-status thresholds;
* ``loadcontrol``: who may command an HCALCS (SECMP0046);
* ``cbke``: whether a Type 1 device needs a CBKE link key before any SE service (issue 13).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .alerts import AlertPolicy
from .cbke import CbkePolicy
from .gpf import GpfPolicy
from .loadcontrol import LoadControlPolicy
from .ota import OtaPolicies


@dataclass(frozen=True)
class Policies:
    """Every policy of the hub; each part is the feature's own policy type."""

    ota: OtaPolicies = field(default_factory=OtaPolicies)
    alerts: AlertPolicy = field(default_factory=AlertPolicy)
    gpf: GpfPolicy = field(default_factory=GpfPolicy)
    loadcontrol: LoadControlPolicy = field(default_factory=LoadControlPolicy)
    cbke: CbkePolicy = field(default_factory=CbkePolicy)

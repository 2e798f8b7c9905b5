"""The simulated HAN behind ``sim://``: wire types (``wire``), the timing model (``timing``), the rig-file
``[sim]`` config (``config``), virtual devices and their OTA client (``devices``, ``ota_client``), the
virtual PAN with its coordinator port (``han.VirtualHan``), and the zigpy radio over it
(``application.SimApplication``). Layered in that order; nothing here imports ``gateway`` or ``rigs``.
"""

from ota.link_model import LinkModel

from .config import (
    DeviceSpec,
    FaultKind,
    FaultSpec,
    SimConfig,
    SimSettings,
    default_bench,
    load_sim_config,
)
from .han import CoordinatorListener, NetworkParams, VirtualHan

__all__ = [
    "CoordinatorListener",
    "DeviceSpec",
    "FaultKind",
    "FaultSpec",
    "LinkModel",
    "NetworkParams",
    "SimConfig",
    "SimSettings",
    "VirtualHan",
    "default_bench",
    "load_sim_config",
]

"""What the virtual NCP is and keeps: its identity (EmberZNet 7.4.4 on a Silicon Labs stick), the
configuration a freshly reset NCP starts with, the state it keeps in NVM across a reset, and its counters.
Shared by the NCP core (``ncp``) and its command groups (``commands``).
"""

from __future__ import annotations

import dataclasses
import enum

import bellows.types as t
import zigpy.types as zigpy_t

STACK_TYPE = 2  # "mesh stack" in the version response
STACK_VERSION = 0x7440  # EmberZNet 7.4.4.0, nibbles major.minor.patch.special
VERSION_INFO = (0, 7, 4, 4, 0)  # build, major, minor, patch, special (getValue VERSION_INFO)
MFG_STRING = b"hanrig"
MFG_BOARD_NAME = b"virtual-ezsp-stick"
COORDINATOR_NWK = 0x0000
DEFAULT_LQI = 255
DEFAULT_RSSI = -40
FREE_BUFFERS = 200
MANUFACTURER_CODE = 0x1049  # Silicon Labs, as in a stock NCP's node descriptor


# configuration defaults of a freshly reset EmberZNet 7.4 NCP (UG100 EzspConfigId)
CONFIG_DEFAULTS: dict[t.EzspConfigId, int] = {
    t.EzspConfigId.CONFIG_PACKET_BUFFER_COUNT: 75,
    t.EzspConfigId.CONFIG_NEIGHBOR_TABLE_SIZE: 16,
    t.EzspConfigId.CONFIG_APS_UNICAST_MESSAGE_COUNT: 10,
    t.EzspConfigId.CONFIG_BINDING_TABLE_SIZE: 2,
    t.EzspConfigId.CONFIG_ADDRESS_TABLE_SIZE: 8,
    t.EzspConfigId.CONFIG_MULTICAST_TABLE_SIZE: 8,
    t.EzspConfigId.CONFIG_ROUTE_TABLE_SIZE: 16,
    t.EzspConfigId.CONFIG_DISCOVERY_TABLE_SIZE: 8,
    t.EzspConfigId.CONFIG_STACK_PROFILE: 2,
    t.EzspConfigId.CONFIG_SECURITY_LEVEL: 5,
    t.EzspConfigId.CONFIG_MAX_HOPS: 30,
    t.EzspConfigId.CONFIG_MAX_END_DEVICE_CHILDREN: 6,
    t.EzspConfigId.CONFIG_INDIRECT_TRANSMISSION_TIMEOUT: 3000,
    t.EzspConfigId.CONFIG_END_DEVICE_POLL_TIMEOUT: 8,
    t.EzspConfigId.CONFIG_TX_POWER_MODE: 0,
    t.EzspConfigId.CONFIG_DISABLE_RELAY: 0,
    t.EzspConfigId.CONFIG_TRUST_CENTER_ADDRESS_CACHE_SIZE: 0,
    t.EzspConfigId.CONFIG_SOURCE_ROUTE_TABLE_SIZE: 7,
    t.EzspConfigId.CONFIG_FRAGMENT_WINDOW_SIZE: 1,
    t.EzspConfigId.CONFIG_FRAGMENT_DELAY_MS: 0,
    t.EzspConfigId.CONFIG_KEY_TABLE_SIZE: 4,
    t.EzspConfigId.CONFIG_APS_ACK_TIMEOUT: 1600,
    t.EzspConfigId.CONFIG_BROADCAST_TABLE_SIZE: 15,
    t.EzspConfigId.CONFIG_APPLICATION_ZDO_FLAGS: 0,
    t.EzspConfigId.CONFIG_SUPPORTED_NETWORKS: 1,
    t.EzspConfigId.CONFIG_PAN_ID_CONFLICT_REPORT_THRESHOLD: 1,
    t.EzspConfigId.CONFIG_TC_REJOINS_USING_WELL_KNOWN_KEY_TIMEOUT_S: 300,
}


class NetworkState(enum.Enum):
    """Whether the NCP's network is up (runtime state: down after every reset)."""

    DOWN = "down"
    UP = "up"


@dataclasses.dataclass
class NvmState:
    """What survives an NCP reset: it lives in the stick's flash."""

    left_network: bool = False
    security_bitmask: int = 0
    key_table: dict[int, tuple[zigpy_t.EUI64, zigpy_t.KeyData]] = dataclasses.field(default_factory=dict)
    multicast: dict[int, t.EmberMulticastTableEntry] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class NcpStats:
    """Counters the tests and the CLI read."""

    commands: int = 0
    unknown_commands: int = 0
    callbacks: int = 0
    unicasts: int = 0
    broadcasts: int = 0
    delivery_failures: int = 0
    incoming: int = 0
    dropped_incoming: int = 0
    resets: int = 0
    extended_timeout_changes: int = 0  # setExtendedTimeout, or an XNCP combined send carrying the flag
    fragments_out: int = 0  # APS fragments the host handed over (sendUnicast with APS_OPTION_FRAGMENT)
    fragments_in: int = 0  # APS fragments handed up (incomingMessageHandler with APS_OPTION_FRAGMENT)
    fragment_acks: int = 0  # the host's fragment acknowledgements (sendReply with APS_OPTION_FRAGMENT)
    fragment_acks_unmatched: int = 0  # ... for no window the air waits on (late, or a duplicate)

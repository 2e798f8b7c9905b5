"""Smart Energy cluster definitions that zigpy leaves empty: DRLC 0x0701, Tunneling 0x0704, Device
Management 0x0708 (ZCL/ZigBee Smart Energy 1.x, annex D) and Key Establishment 0x0800 (annex C).

zigpy ships these clusters as stubs with no attributes or commands, so their frames cannot be built or
parsed. The classes below subclass zigpy's stubs with real ``AttributeDefs`` / ``ServerCommandDefs`` /
``ClientCommandDefs``; importing this module registers them in zigpy's cluster registry, so
``Cluster.from_id(ep, 0x0701)`` (and every endpoint zigpy creates afterwards) uses them.

zigpy's naming: ``ServerCommandDefs`` are the commands a cluster *server* receives (sent client to
server); ``ClientCommandDefs`` are the commands the server generates (sent server to client). The hub
(ESI) is the DRLC and Device Management server, and both ends of a tunnel.

Metering 0x0702 is already complete in zigpy (every attribute hanrig reads: 0x0000, 0x0007, 0x0200,
0x0300-0x0306, 0x0400), so it is not redefined; ``METERING_ATTRIBUTES_IN_USE`` lists what hanrig relies on.
"""

from __future__ import annotations

import enum
from typing import Final

import zigpy.types as t
from zigpy.zcl.clusters import smartenergy
from zigpy.zcl.foundation import BaseAttributeDefs, BaseCommandDefs, ZCLAttributeDef, ZCLCommandDef

# --------------------------------------------------------------------------------------------------
# Demand Response and Load Control (SE 1.x D.2)
# --------------------------------------------------------------------------------------------------


class DeviceClass(t.bitmap16):
    """Device classes a load control event is addressed to (SE Table D-2); hanrig's HCALCS is EV."""

    HVAC_compressor_or_furnace = 1 << 0
    strip_heaters_baseboard_heaters = 1 << 1
    water_heater = 1 << 2
    pool_pump_spa_jacuzzi = 1 << 3
    smart_appliances = 1 << 4
    irrigation_pump = 1 << 5
    managed_commercial_industrial_loads = 1 << 6
    simple_misc_loads = 1 << 7  # residential on/off loads
    exterior_lighting = 1 << 8
    interior_lighting = 1 << 9
    electric_vehicle = 1 << 10
    generation_systems = 1 << 11


class CriticalityLevel(t.enum8):
    """Criticality of a load control event (SE Table D-3); 0x0A..0x0F are utility-defined."""

    Reserved = 0x00
    Green = 0x01  # voluntary
    Level_1 = 0x02  # voluntary
    Level_2 = 0x03  # voluntary
    Level_3 = 0x04  # voluntary
    Level_4 = 0x05  # voluntary
    Level_5 = 0x06  # voluntary
    Emergency = 0x07  # mandatory
    Planned_Outage = 0x08  # mandatory
    Service_Disconnect = 0x09  # mandatory


class EventControl(t.bitmap8):
    """Load Control Event options (SE Table D-4): randomise the start and/or the end of the event."""

    randomize_start_time = 1 << 0
    randomize_end_time = 1 << 1


class CancelControl(t.bitmap8):
    """Cancel options (SE Table D-5): bit 0 set = end the running event using its randomisation."""

    terminate_with_randomization = 1 << 0


class EventStatus(t.enum8):
    """Event status reported by a load control device (SE Table D-9)."""

    Load_Control_Event_Received = 0x01
    Event_Started = 0x02
    Event_Completed = 0x03
    User_Opt_Out = 0x04
    User_Opt_In = 0x05
    Event_Cancelled = 0x06
    Event_Superseded = 0x07
    Event_Partially_Completed_Opt_Out = 0x08
    Event_Partially_Completed_Opt_In = 0x09
    Event_Completed_No_Participation = 0x0A  # previous opt-out
    Rejected_Invalid_Cancel_Default = 0xF8
    Rejected_Invalid_Cancel_Effective_Time = 0xF9
    Rejected_Event_Expired = 0xFB  # received after start time + duration
    Rejected_Invalid_Cancel_Undefined_Event = 0xFD
    Rejected = 0xFE  # Load Control Event command rejected


class SignatureType(t.enum8):
    """Signature on a Report Event Status (SE Table D-10)."""

    No_Signature = 0x00
    ECDSA = 0x01


class Signature42(t.FixedList, item_type=t.uint8_t, length=42):
    """The fixed 42-octet signature field of Report Event Status (all 0xFF when unsigned)."""


# Sentinels: a field a device must ignore / did not use (SE D.2.2.3.1, D.2.3.3.1).
TEMPERATURE_OFFSET_UNUSED: Final = 0xFF
TEMPERATURE_SET_POINT_UNUSED: Final = -0x8000  # 0x8000 on the wire (signed in LCE)
TEMPERATURE_SET_POINT_APPLIED_UNUSED: Final = 0x8000  # unsigned in Report Event Status
AVERAGE_LOAD_ADJUSTMENT_UNUSED: Final = -0x80  # 0x80 on the wire
DUTY_CYCLE_UNUSED: Final = 0xFF
START_TIME_NOW: Final = 0x00000000  # Start Time / Effective Time 0 means "now"
MAX_DURATION_MINUTES: Final = 1440  # one day
UNSIGNED_SIGNATURE: Final = Signature42([0xFF] * 42)


class DemandResponseLoadControl(smartenergy.Drlc):
    """Demand Response and Load Control 0x0701 (SE D.2): the hub's load events to an HCALCS."""

    DeviceClass: Final = DeviceClass
    CriticalityLevel: Final = CriticalityLevel
    EventControl: Final = EventControl
    CancelControl: Final = CancelControl
    EventStatus: Final = EventStatus
    SignatureType: Final = SignatureType

    class AttributeDefs(BaseAttributeDefs):
        # Client-side attributes (SE D.2.3.2): the device's enrolment and randomisation settings.
        utility_enrollment_group: Final = ZCLAttributeDef(id=0x0000, type=t.uint8_t, access="rw")
        start_randomization_minutes: Final = ZCLAttributeDef(id=0x0001, type=t.uint8_t, access="rw")
        duration_randomization_minutes: Final = ZCLAttributeDef(id=0x0002, type=t.uint8_t, access="rw")
        device_class_value: Final = ZCLAttributeDef(id=0x0003, type=DeviceClass, access="rw")

    class ServerCommandDefs(BaseCommandDefs):
        # Client -> server (the device reports to the ESI).
        report_event_status: Final = ZCLCommandDef(
            id=0x00,
            schema={
                "issuer_event_id": t.uint32_t,
                "event_status": EventStatus,
                "event_status_time": t.UTCTime,
                "criticality_level_applied": CriticalityLevel,
                "cooling_temperature_set_point_applied": t.uint16_t,
                "heating_temperature_set_point_applied": t.uint16_t,
                "average_load_adjustment_percentage_applied": t.int8s,
                "duty_cycle_applied": t.uint8_t,
                "event_control": EventControl,
                "signature_type": SignatureType,
                "signature": Signature42,
            },
        )
        get_scheduled_events: Final = ZCLCommandDef(
            id=0x01,
            schema={
                "start_time": t.UTCTime,
                "number_of_events": t.uint8_t,  # 0 = all events from start_time
                "issuer_event_id?": t.uint32_t,  # added in SE 1.2
            },
        )

    class ClientCommandDefs(BaseCommandDefs):
        # Server -> client (the ESI commands the device).
        load_control_event: Final = ZCLCommandDef(
            id=0x00,
            schema={
                "issuer_event_id": t.uint32_t,
                "device_class": DeviceClass,
                "utility_enrollment_group": t.uint8_t,
                "start_time": t.UTCTime,  # 0 = now
                "duration_in_minutes": t.uint16_t,  # <= 1440
                "criticality_level": CriticalityLevel,
                "cooling_temperature_offset": t.uint8_t,  # 0.1 degC, 0xFF unused
                "heating_temperature_offset": t.uint8_t,  # 0.1 degC, 0xFF unused
                "cooling_temperature_set_point": t.int16s,  # 0.01 degC, 0x8000 unused
                "heating_temperature_set_point": t.int16s,  # 0.01 degC, 0x8000 unused
                "average_load_adjustment_percentage": t.int8s,  # -100..100, 0x80 unused
                "duty_cycle": t.uint8_t,  # 0..100 %, 0xFF unused
                "event_control": EventControl,
            },
        )
        cancel_load_control_event: Final = ZCLCommandDef(
            id=0x01,
            schema={
                "issuer_event_id": t.uint32_t,
                "device_class": DeviceClass,
                "utility_enrollment_group": t.uint8_t,
                "cancel_control": CancelControl,
                "effective_time": t.UTCTime,  # 0 = now
            },
        )
        cancel_all_load_control_events: Final = ZCLCommandDef(
            id=0x02,
            schema={"cancel_control": CancelControl},
        )


# --------------------------------------------------------------------------------------------------
# Tunneling (SE 1.x D.6)
# --------------------------------------------------------------------------------------------------


class TunnelProtocolId(t.enum8):
    """Protocols a tunnel can carry (SE Table D-124). GB's GBCS traffic uses GB_HRGP.

    7 and 8 are IPv4/IPv6 but published tables disagree on which is which, so they are left
    undefined here; 200..254 are manufacturer-defined (with a manufacturer code).
    """

    DLMS_COSEM = 0x00  # IEC 62056
    IEC_61107 = 0x01
    ANSI_C12 = 0x02
    M_BUS = 0x03
    SML = 0x04
    ClimateTalk = 0x05
    GB_HRGP = 0x06


# A standard (non manufacturer-defined) protocol is requested with manufacturer code 0xFFFF.
TUNNEL_NO_MANUFACTURER: Final = 0xFFFF


class TunnelStatus(t.enum8):
    """Request Tunnel Response status (SE Table D-127)."""

    Success = 0x00
    Busy = 0x01
    No_More_Tunnel_IDs = 0x02
    Protocol_Not_Supported = 0x03
    Flow_Control_Not_Supported = 0x04


class TransferDataStatus(t.enum8):
    """Transfer Data Error status (SE Table D-129)."""

    No_Such_Tunnel = 0x00
    Wrong_Device = 0x01  # the tunnel belongs to another device
    Data_Overflow = 0x02  # more than MaximumIncomingTransferSize


class SupportedProtocol(t.Struct):
    """One entry of Supported Tunnel Protocols Response (SE Figure D-111)."""

    manufacturer_code: t.uint16_t
    protocol_id: TunnelProtocolId


class Tunneling(smartenergy.Tunneling):
    """Tunneling 0x0704 (SE D.6): a byte pipe for GBCS (GB-HRGP) messages between hub and meter."""

    TunnelProtocolId: Final = TunnelProtocolId
    TunnelStatus: Final = TunnelStatus
    TransferDataStatus: Final = TransferDataStatus

    class AttributeDefs(BaseAttributeDefs):
        close_tunnel_timeout: Final = ZCLAttributeDef(id=0x0000, type=t.uint16_t, access="r", mandatory=True)

    class ServerCommandDefs(BaseCommandDefs):
        # Client -> server.
        request_tunnel: Final = ZCLCommandDef(
            id=0x00,
            schema={
                "protocol_id": TunnelProtocolId,
                "manufacturer_code": t.uint16_t,
                "flow_control_support": t.Bool,
                "maximum_incoming_transfer_size": t.uint16_t,
            },
        )
        close_tunnel: Final = ZCLCommandDef(id=0x01, schema={"tunnel_id": t.uint16_t})
        transfer_data: Final = ZCLCommandDef(id=0x02, schema={"tunnel_id": t.uint16_t, "data": t.Bytes})
        transfer_data_error: Final = ZCLCommandDef(
            id=0x03, schema={"tunnel_id": t.uint16_t, "transfer_data_status": TransferDataStatus}
        )
        ack_transfer_data: Final = ZCLCommandDef(
            id=0x04, schema={"tunnel_id": t.uint16_t, "number_of_bytes_left": t.uint16_t}
        )
        ready_data: Final = ZCLCommandDef(
            id=0x05, schema={"tunnel_id": t.uint16_t, "number_of_octets_left": t.uint16_t}
        )
        get_supported_tunnel_protocols: Final = ZCLCommandDef(id=0x06, schema={"protocol_offset": t.uint8_t})

    class ClientCommandDefs(BaseCommandDefs):
        # Server -> client.
        request_tunnel_response: Final = ZCLCommandDef(
            id=0x00,
            schema={
                "tunnel_id": t.uint16_t,
                "tunnel_status": TunnelStatus,
                "maximum_incoming_transfer_size": t.uint16_t,
            },
        )
        transfer_data: Final = ZCLCommandDef(id=0x01, schema={"tunnel_id": t.uint16_t, "data": t.Bytes})
        transfer_data_error: Final = ZCLCommandDef(
            id=0x02, schema={"tunnel_id": t.uint16_t, "transfer_data_status": TransferDataStatus}
        )
        ack_transfer_data: Final = ZCLCommandDef(
            id=0x03, schema={"tunnel_id": t.uint16_t, "number_of_bytes_left": t.uint16_t}
        )
        ready_data: Final = ZCLCommandDef(
            id=0x04, schema={"tunnel_id": t.uint16_t, "number_of_octets_left": t.uint16_t}
        )
        supported_tunnel_protocols_response: Final = ZCLCommandDef(
            id=0x05,
            schema={
                "protocol_list_complete": t.Bool,
                "protocols": t.LVList[SupportedProtocol, t.uint8_t],
            },
        )
        tunnel_closure_notification: Final = ZCLCommandDef(id=0x06, schema={"tunnel_id": t.uint16_t})


# --------------------------------------------------------------------------------------------------
# Device Management (SE 1.2+ D.10)
# --------------------------------------------------------------------------------------------------


class TariffType(t.enum8):
    """Tariff type (SE Table D-108, low nibble); the high nibble is reserved."""

    Delivered = 0x00
    Received = 0x01
    Delivered_And_Received = 0x02


class TenancyChangeControl(t.bitmap32):
    """Proposed (Tenancy/Provider) Change Control (SE Table D-164): what a device does at the change.

    Bits 11-12 are one two-bit field, the meter contactor state afterwards: 0 supply off,
    1 supply off/armed, 2 supply on, 3 unchanged (see ``contactor_state``).
    """

    pre_snapshots = 1 << 0
    post_snapshots = 1 << 1
    reset_credit_register = 1 << 2
    reset_debit_register = 1 << 3
    reset_billing_period = 1 << 4
    clear_tariff_plan = 1 << 5
    clear_standing_charge = 1 << 6
    block_historical_load_profile = 1 << 7  # history no longer published to the HAN
    clear_historical_load_profile = 1 << 8
    clear_ihd_data_consumer = 1 << 9
    clear_ihd_data_supplier = 1 << 10
    contactor_state_bit0 = 1 << 11
    contactor_state_bit1 = 1 << 12
    clear_transaction_log = 1 << 13
    clear_prepayment_log = 1 << 14


def contactor_state(control: int) -> int:
    """The two-bit meter contactor state carried in bits 11-12 of a change control bitmap."""
    return (int(control) >> 11) & 0b11


class PasswordType(t.enum8):
    """Password Type of Request New Password (SE Table D-170)."""

    Reserved = 0x00
    Password_1_Service_Menu = 0x01
    Password_2_Consumer_Menu = 0x02
    Password_3 = 0x03
    Password_4 = 0x04


class WanStatus(t.enum8):
    """WAN Status attribute (SE Table D-168)."""

    Not_Available = 0x00
    Available = 0x01


class DeviceManagement(smartenergy.DeviceManagement):
    """Device Management 0x0708 (SE D.10): change of tenancy and of supplier, site id, CIN, passwords."""

    TariffType: Final = TariffType
    TenancyChangeControl: Final = TenancyChangeControl
    PasswordType: Final = PasswordType

    class AttributeDefs(BaseAttributeDefs):
        # Supplier control set (0x01xx)
        provider_id: Final = ZCLAttributeDef(id=0x0100, type=t.uint32_t, access="r")
        provider_name: Final = ZCLAttributeDef(id=0x0101, type=t.LVBytes, access="r")
        provider_contact_details: Final = ZCLAttributeDef(id=0x0102, type=t.LVBytes, access="r")
        proposed_provider_id: Final = ZCLAttributeDef(id=0x0110, type=t.uint32_t, access="r")
        proposed_provider_name: Final = ZCLAttributeDef(id=0x0111, type=t.LVBytes, access="r")
        proposed_provider_change_date_time: Final = ZCLAttributeDef(id=0x0112, type=t.UTCTime, access="r")
        proposed_provider_change_control: Final = ZCLAttributeDef(
            id=0x0113, type=TenancyChangeControl, access="r"
        )
        # Tenancy control set (0x02xx)
        change_of_tenancy_update_date_time: Final = ZCLAttributeDef(id=0x0200, type=t.UTCTime, access="r")
        proposed_tenancy_change_control: Final = ZCLAttributeDef(
            id=0x0201, type=TenancyChangeControl, access="r"
        )
        # Backhaul control set (0x03xx)
        wan_status: Final = ZCLAttributeDef(id=0x0300, type=WanStatus, access="r")
        # HAN control set (0x04xx)
        low_medium_threshold: Final = ZCLAttributeDef(id=0x0400, type=t.uint32_t, access="r")
        medium_high_threshold: Final = ZCLAttributeDef(id=0x0401, type=t.uint32_t, access="r")

    class ServerCommandDefs(BaseCommandDefs):
        # Client -> server. 0x04 Report Event Configuration is not needed by hanrig and not defined.
        get_change_of_tenancy: Final = ZCLCommandDef(id=0x00, schema={})
        get_change_of_supplier: Final = ZCLCommandDef(id=0x01, schema={})
        request_new_password: Final = ZCLCommandDef(id=0x02, schema={"password_type": PasswordType})
        get_site_id: Final = ZCLCommandDef(id=0x03, schema={})
        get_cin: Final = ZCLCommandDef(id=0x05, schema={})

    class ClientCommandDefs(BaseCommandDefs):
        # Server -> client. 0x04/0x05 Set/Get Event Configuration are not needed and not defined.
        publish_change_of_tenancy: Final = ZCLCommandDef(
            id=0x00,
            schema={
                "provider_id": t.uint32_t,
                "issuer_event_id": t.uint32_t,
                "tariff_type": TariffType,
                "implementation_date_time": t.UTCTime,  # 0 = now
                "proposed_tenancy_change_control": TenancyChangeControl,
            },
        )
        publish_change_of_supplier: Final = ZCLCommandDef(
            id=0x01,
            schema={
                "current_provider_id": t.uint32_t,
                "issuer_event_id": t.uint32_t,
                "tariff_type": TariffType,
                "proposed_provider_id": t.uint32_t,
                "provider_change_implementation_time": t.UTCTime,
                "provider_change_control": TenancyChangeControl,
                "proposed_provider_name": t.LVBytes,
                "proposed_provider_contact_details": t.LVBytes,
            },
        )
        request_new_password_response: Final = ZCLCommandDef(
            id=0x02,
            schema={
                "issuer_event_id": t.uint32_t,
                "implementation_date_time": t.UTCTime,
                "duration_in_minutes": t.uint16_t,
                "password_type": PasswordType,
                "password": t.LVBytes,
            },
        )
        update_site_id: Final = ZCLCommandDef(
            id=0x03,
            schema={
                "issuer_event_id": t.uint32_t,
                "site_id_time": t.UTCTime,
                "provider_id": t.uint32_t,
                "site_id": t.LVBytes,
            },
        )
        update_cin: Final = ZCLCommandDef(
            id=0x06,
            schema={
                "issuer_event_id": t.uint32_t,
                "implementation_time": t.UTCTime,
                "provider_id": t.uint32_t,
                "customer_id_number": t.LVBytes,
            },
        )


# What hanrig reads from Metering (GPF mirror and ESME): all defined by zigpy already.
METERING_ATTRIBUTES_IN_USE: Final = (
    "current_summ_delivered",  # 0x0000
    "reading_snapshot_time",  # 0x0007, the GSME's timestamp of its push (SECMP0015)
    "status",  # 0x0200
    "unit_of_measure",  # 0x0300
    "multiplier",  # 0x0301
    "divisor",  # 0x0302
    "metering_device_type",  # 0x0306
    "instantaneous_demand",  # 0x0400
)

# --------------------------------------------------------------------------------------------------
# Key Establishment (SE 1.x annex C.3; layouts as Wireshark's packet-zbee-zcl-se.c dissects them)
# --------------------------------------------------------------------------------------------------


class KeyEstablishmentSuite(t.bitmap16):
    """Crypto suites (SE Table C-4): 1 = sect163k1 with 48-byte certificates, 2 = sect283k1 with 74."""

    CBKE_ECMQV = 0x0001          # crypto suite 1
    CBKE_ECMQV_283K1 = 0x0002    # crypto suite 2


class KeyEstablishmentStatus(t.enum8):
    """Terminate Key Establishment status (SE Table C-9)."""

    UNKNOWN_ISSUER = 0x01
    BAD_KEY_CONFIRM = 0x02
    BAD_MESSAGE = 0x03
    NO_RESOURCES = 0x04
    UNSUPPORTED_SUITE = 0x05
    INVALID_CERTIFICATE = 0x06


# Terminate Key Establishment is the same command in both directions (SE Figure C-8)
_KE_TERMINATE: Final = {"status_code": KeyEstablishmentStatus, "wait_time": t.uint8_t,
                        "key_establishment_suite": KeyEstablishmentSuite}


class KeyEstablishment(smartenergy.KeyEstablishment):
    """Key Establishment 0x0800: CBKE between a device and the trust centre. Every SE device has both
    the client and the server; the initiator sends the client-to-server commands.

    The certificate, ephemeral key and MAC fields have no length prefix: their size follows from the
    suite (certificate 48/74, ephemeral key 22/37, MAC 16), so they are ``t.Bytes`` here and the
    CBKE code checks each size.
    """

    Suite: Final = KeyEstablishmentSuite
    Status: Final = KeyEstablishmentStatus

    class AttributeDefs(BaseAttributeDefs):
        key_establishment_suite: Final = ZCLAttributeDef(
            id=0x0000, type=KeyEstablishmentSuite, access="r", mandatory=True)

    class ServerCommandDefs(BaseCommandDefs):
        # Client (initiator) -> server (responder).
        initiate_key_establishment: Final = ZCLCommandDef(
            id=0x00,
            schema={
                "key_establishment_suite": KeyEstablishmentSuite,
                "ephemeral_data_generate_time": t.uint8_t,
                "confirm_key_generate_time": t.uint8_t,
                "identity": t.Bytes,
            },
        )
        ephemeral_data: Final = ZCLCommandDef(id=0x01, schema={"ephemeral_data": t.Bytes})
        confirm_key_data: Final = ZCLCommandDef(
            id=0x02, schema={"secure_message_authentication_code": t.Bytes})
        terminate_key_establishment: Final = ZCLCommandDef(id=0x03, schema=_KE_TERMINATE)

    class ClientCommandDefs(BaseCommandDefs):
        # Server (responder) -> client (initiator).
        initiate_key_establishment_response: Final = ZCLCommandDef(
            id=0x00,
            schema={
                "requested_key_establishment_suite": KeyEstablishmentSuite,
                "ephemeral_data_generate_time": t.uint8_t,
                "confirm_key_generate_time": t.uint8_t,
                "identity": t.Bytes,
            },
        )
        ephemeral_data_response: Final = ZCLCommandDef(id=0x01, schema={"ephemeral_data": t.Bytes})
        confirm_key_data_response: Final = ZCLCommandDef(
            id=0x02, schema={"secure_message_authentication_code": t.Bytes})
        terminate_key_establishment: Final = ZCLCommandDef(id=0x03, schema=_KE_TERMINATE)


SE_CLUSTERS: Final = (DemandResponseLoadControl, Tunneling, DeviceManagement, KeyEstablishment)


class ProfileStatus(enum.IntEnum):
    """Metering Get Profile Response status (SE Table D-27); the history a change of tenancy hides."""

    SUCCESS = 0x00
    UNDEFINED_INTERVAL_CHANNEL = 0x01
    INTERVAL_CHANNEL_NOT_SUPPORTED = 0x02
    INVALID_END_TIME = 0x03
    MORE_PERIODS_REQUESTED_THAN_CAN_BE_RETURNED = 0x04
    NO_INTERVALS_AVAILABLE = 0x05


# --------------------------------------------------------------------------------------------------
# Which traffic a CBKE link key secures (issue 13)
# --------------------------------------------------------------------------------------------------


def aps_secured_after_cbke(cluster_id: int) -> bool:
    """Whether frames on ``cluster_id`` go APS-secured between the hub and a device holding a CBKE link
    key: the Smart Energy clusters (the 0x07xx block: Price, DRLC, Metering, Messaging, Tunneling,
    Prepayment, Device Management ...) and OTA Upgrade 0x0019. Key Establishment is not: it runs before
    there is a key."""
    return 0x0700 <= cluster_id <= 0x07FF or cluster_id == 0x0019

"""SE cluster definitions (DRLC, Tunneling, Device Management): golden bytes through zigpy's own
parser and registry resolution (GB-HRGP over Tunneling: tests/hal/test_gbhrgp.py)."""

from __future__ import annotations

from unittest.mock import MagicMock

import pytest
import zigpy.types as t
from zigpy.zcl import Cluster, foundation
from zigpy.zcl.clusters import smartenergy

from hal import se_clusters as se

S2C = foundation.Direction.Server_to_Client
C2S = foundation.Direction.Client_to_Server


def _cluster(cluster_id: int) -> Cluster:
    return Cluster.from_id(MagicMock(), cluster_id)


def _parse(cluster_id: int, frame: bytes):
    return _cluster(cluster_id).deserialize(frame)


def test_from_id_resolves_the_new_definitions() -> None:
    assert type(_cluster(0x0701)) is se.DemandResponseLoadControl
    assert type(_cluster(0x0704)) is se.Tunneling
    assert type(_cluster(0x0708)) is se.DeviceManagement
    # They stay what zigpy's stubs were, so code testing isinstance(..., smartenergy.X) still works.
    assert isinstance(_cluster(0x0701), smartenergy.Drlc)
    assert _cluster(0x0708).ep_attribute == "smartenergy_device_management"


def test_metering_attributes_in_use_are_defined_by_zigpy() -> None:
    names = {attr.name for attr in smartenergy.Metering.AttributeDefs}
    assert set(se.METERING_ATTRIBUTES_IN_USE) <= names
    assert smartenergy.Metering.AttributeDefs.reading_snapshot_time.id == 0x0007


# Each case: cluster, direction, command id, fields, golden payload (after the 3-octet ZCL header).
GOLDEN = [
    pytest.param(
        0x0701,
        S2C,
        0x00,
        {
            "issuer_event_id": 0x12345678,
            "device_class": se.DeviceClass.electric_vehicle,
            "utility_enrollment_group": 0,
            "start_time": 0,
            "duration_in_minutes": 30,
            "criticality_level": se.CriticalityLevel.Green,
            "cooling_temperature_offset": se.TEMPERATURE_OFFSET_UNUSED,
            "heating_temperature_offset": se.TEMPERATURE_OFFSET_UNUSED,
            "cooling_temperature_set_point": se.TEMPERATURE_SET_POINT_UNUSED,
            "heating_temperature_set_point": se.TEMPERATURE_SET_POINT_UNUSED,
            "average_load_adjustment_percentage": se.AVERAGE_LOAD_ADJUSTMENT_UNUSED,
            "duty_cycle": se.DUTY_CYCLE_UNUSED,
            "event_control": se.EventControl.randomize_start_time,
        },
        "78563412 0004 00 00000000 1e00 01 ff ff 0080 0080 80 ff 01",
        id="drlc-load_control_event",
    ),
    pytest.param(
        0x0701,
        S2C,
        0x01,
        {
            "issuer_event_id": 7,
            "device_class": se.DeviceClass.electric_vehicle,
            "utility_enrollment_group": 3,
            "cancel_control": se.CancelControl.terminate_with_randomization,
            "effective_time": 0x2A000000,
        },
        "07000000 0004 03 01 0000002a",
        id="drlc-cancel_load_control_event",
    ),
    pytest.param(0x0701, S2C, 0x02, {"cancel_control": 0}, "00", id="drlc-cancel_all"),
    pytest.param(
        0x0701,
        C2S,
        0x00,
        {
            "issuer_event_id": 0x12345678,
            "event_status": se.EventStatus.Event_Started,
            "event_status_time": 0x2ED0B8A0,
            "criticality_level_applied": se.CriticalityLevel.Green,
            "cooling_temperature_set_point_applied": se.TEMPERATURE_SET_POINT_APPLIED_UNUSED,
            "heating_temperature_set_point_applied": se.TEMPERATURE_SET_POINT_APPLIED_UNUSED,
            "average_load_adjustment_percentage_applied": -0x80,
            "duty_cycle_applied": 0xFF,
            "event_control": 1,
            "signature_type": se.SignatureType.No_Signature,
            "signature": se.UNSIGNED_SIGNATURE,
        },
        "78563412 02 a0b8d02e 01 0080 0080 80 ff 01 00" + "ff" * 42,
        id="drlc-report_event_status",
    ),
    pytest.param(
        0x0701,
        C2S,
        0x01,
        {"start_time": 0, "number_of_events": 0},
        "00000000 00",
        id="drlc-get_scheduled_events-se11",
    ),
    pytest.param(
        0x0701,
        C2S,
        0x01,
        {"start_time": 1, "number_of_events": 2, "issuer_event_id": 9},
        "01000000 02 09000000",
        id="drlc-get_scheduled_events-se12",
    ),
    pytest.param(
        0x0704,
        C2S,
        0x00,
        {
            "protocol_id": se.TunnelProtocolId.GB_HRGP,
            "manufacturer_code": se.TUNNEL_NO_MANUFACTURER,
            "flow_control_support": t.Bool.false,
            "maximum_incoming_transfer_size": 1500,
        },
        "06 ffff 00 dc05",
        id="tunnel-request_tunnel",
    ),
    pytest.param(0x0704, C2S, 0x01, {"tunnel_id": 0x0102}, "0201", id="tunnel-close_tunnel"),
    pytest.param(
        0x0704,
        C2S,
        0x02,
        {"tunnel_id": 1, "data": b"\xde\xad\xbe\xef"},
        "0100 deadbeef",
        id="tunnel-transfer_data-c2s",
    ),
    pytest.param(
        0x0704,
        C2S,
        0x03,
        {"tunnel_id": 1, "transfer_data_status": se.TransferDataStatus.Data_Overflow},
        "0100 02",
        id="tunnel-transfer_data_error-c2s",
    ),
    pytest.param(
        0x0704,
        C2S,
        0x04,
        {"tunnel_id": 1, "number_of_bytes_left": 300},
        "0100 2c01",
        id="tunnel-ack_transfer_data-c2s",
    ),
    pytest.param(
        0x0704,
        C2S,
        0x05,
        {"tunnel_id": 1, "number_of_octets_left": 2},
        "0100 0200",
        id="tunnel-ready_data-c2s",
    ),
    pytest.param(0x0704, C2S, 0x06, {"protocol_offset": 0}, "00", id="tunnel-get_supported_protocols"),
    pytest.param(
        0x0704,
        S2C,
        0x00,
        {"tunnel_id": 5, "tunnel_status": se.TunnelStatus.Success, "maximum_incoming_transfer_size": 255},
        "0500 00 ff00",
        id="tunnel-request_tunnel_response",
    ),
    pytest.param(
        0x0704, S2C, 0x01, {"tunnel_id": 5, "data": b"\x01\x02"}, "0500 0102", id="tunnel-transfer_data-s2c"
    ),
    pytest.param(
        0x0704,
        S2C,
        0x02,
        {"tunnel_id": 5, "transfer_data_status": se.TransferDataStatus.No_Such_Tunnel},
        "0500 00",
        id="tunnel-transfer_data_error-s2c",
    ),
    pytest.param(
        0x0704,
        S2C,
        0x03,
        {"tunnel_id": 5, "number_of_bytes_left": 0},
        "0500 0000",
        id="tunnel-ack_transfer_data-s2c",
    ),
    pytest.param(
        0x0704,
        S2C,
        0x04,
        {"tunnel_id": 5, "number_of_octets_left": 1},
        "0500 0100",
        id="tunnel-ready_data-s2c",
    ),
    pytest.param(
        0x0704,
        S2C,
        0x05,
        {
            "protocol_list_complete": t.Bool.true,
            "protocols": [
                se.SupportedProtocol(manufacturer_code=0xFFFF, protocol_id=se.TunnelProtocolId.GB_HRGP),
                se.SupportedProtocol(manufacturer_code=0x1234, protocol_id=200),
            ],
        },
        "01 02 ffff06 3412c8",
        id="tunnel-supported_protocols_response",
    ),
    pytest.param(0x0704, S2C, 0x06, {"tunnel_id": 5}, "0500", id="tunnel-closure_notification"),
    pytest.param(
        0x0708,
        S2C,
        0x00,
        {
            "provider_id": 0x01020304,
            "issuer_event_id": 0x0A0B0C0D,
            "tariff_type": se.TariffType.Delivered,
            "implementation_date_time": 0x2ED0B8A0,
            "proposed_tenancy_change_control": se.TenancyChangeControl.block_historical_load_profile
            | se.TenancyChangeControl.clear_ihd_data_consumer,
        },
        "04030201 0d0c0b0a 00 a0b8d02e 80020000",
        id="dm-publish_change_of_tenancy",
    ),
    pytest.param(
        0x0708,
        S2C,
        0x01,
        {
            "current_provider_id": 1,
            "issuer_event_id": 2,
            "tariff_type": 0,
            "proposed_provider_id": 3,
            "provider_change_implementation_time": 4,
            "provider_change_control": 0,
            "proposed_provider_name": b"GasCo",
            "proposed_provider_contact_details": b"",
        },
        "01000000 02000000 00 03000000 04000000 00000000 0547617343 6f 00",
        id="dm-publish_change_of_supplier",
    ),
    pytest.param(
        0x0708,
        S2C,
        0x02,
        {
            "issuer_event_id": 1,
            "implementation_date_time": 0,
            "duration_in_minutes": 60,
            "password_type": se.PasswordType.Password_1_Service_Menu,
            "password": b"1234",
        },
        "01000000 00000000 3c00 01 0431323334",
        id="dm-request_new_password_response",
    ),
    pytest.param(
        0x0708,
        S2C,
        0x03,
        {"issuer_event_id": 1, "site_id_time": 2, "provider_id": 3, "site_id": b"X"},
        "01000000 02000000 03000000 0158",
        id="dm-update_site_id",
    ),
    pytest.param(
        0x0708,
        S2C,
        0x06,
        {"issuer_event_id": 1, "implementation_time": 0, "provider_id": 3, "customer_id_number": b"C1"},
        "01000000 00000000 03000000 024331",
        id="dm-update_cin",
    ),
    pytest.param(0x0708, C2S, 0x00, {}, "", id="dm-get_change_of_tenancy"),
    pytest.param(0x0708, C2S, 0x01, {}, "", id="dm-get_change_of_supplier"),
    pytest.param(
        0x0708,
        C2S,
        0x02,
        {"password_type": se.PasswordType.Password_2_Consumer_Menu},
        "02",
        id="dm-request_new_password",
    ),
    pytest.param(0x0708, C2S, 0x03, {}, "", id="dm-get_site_id"),
    pytest.param(0x0708, C2S, 0x05, {}, "", id="dm-get_cin"),
]


@pytest.mark.parametrize(("cluster_id", "direction", "command_id", "fields", "payload_hex"), GOLDEN)
def test_golden_bytes(
    cluster_id: int, direction: foundation.Direction, command_id: int, fields: dict, payload_hex: str
) -> None:
    cluster = _cluster(cluster_id)
    commands = cluster.client_commands if direction == S2C else cluster.server_commands
    command = commands[command_id]
    payload = bytes.fromhex(payload_hex.replace(" ", ""))
    assert command.schema(**fields).serialize() == payload

    header = foundation.ZCLHeader.cluster(tsn=0x2A, command_id=command_id, direction=direction)
    frame = header.serialize() + payload
    # Frame control: cluster-specific (bits 0-1 = 01), direction bit 3 (1 = server to client).
    assert frame[0] & 0x0B == (0x09 if direction == S2C else 0x01)
    assert frame[1:3] == bytes([0x2A, command_id])
    hdr, parsed = cluster.deserialize(frame)
    assert hdr.command_id == command_id
    assert type(parsed).__name__ == command.name
    for name, value in fields.items():
        assert getattr(parsed, name) == value, name


def test_truncated_frame_is_rejected_by_zigpy() -> None:
    header = foundation.ZCLHeader.cluster(tsn=1, command_id=0x00, direction=S2C)
    with pytest.raises(ValueError):
        _parse(0x0708, header.serialize() + bytes.fromhex("04030201 0d0c0b0a 00"))


def test_contactor_state_reads_bits_11_and_12() -> None:
    control = se.TenancyChangeControl.contactor_state_bit1 | se.TenancyChangeControl.pre_snapshots
    assert se.contactor_state(control) == 2
    assert se.contactor_state(0xFFFFFFFF) == 3
    assert se.contactor_state(0) == 0

"""The simulator's Struct-free ZCL codec against zigpy's own Struct path, octet for octet."""

from __future__ import annotations

import itertools

import pytest
from zigpy.types import EUI64
from zigpy.zcl import foundation
from zigpy.zcl.clusters.general import Ota

from hal.sim.wire import SchemaCodec, parse_zcl, zcl_cluster_command, zcl_general

OTA_FIELDS = {"manufacturer_code": 0x1234, "image_type": 0x0101, "file_version": 0x00010100}
BLOCK = Ota.ImageBlockCommand.FieldControl


@pytest.mark.parametrize(("server_to_client", "no_default"), list(itertools.product([False, True], repeat=2)))
def test_headers_are_zigpys(server_to_client: bool, no_default: bool) -> None:
    direction = (foundation.Direction.Server_to_Client if server_to_client
                 else foundation.Direction.Client_to_Server)
    defs = Ota.ClientCommandDefs if server_to_client else Ota.ServerCommandDefs
    command = defs.upgrade_end_response if server_to_client else defs.upgrade_end
    values = ({"current_time": 0, "upgrade_time": 0, **OTA_FIELDS} if server_to_client
              else {"status": SUCCESS, **OTA_FIELDS})
    for tsn in (0, 0x7F, 0xFF):
        expected = foundation.ZCLHeader.cluster(tsn, command.id, direction=direction)
        expected.frame_control = expected.frame_control.replace(disable_default_response=no_default)
        built = zcl_cluster_command(Ota, tsn, command.name, server_to_client=server_to_client,
                                    disable_default_response=no_default, **values)
        assert built == expected.serialize() + command.schema(**values).serialize()
        parsed = parse_zcl(Ota, built)
        assert parsed.header == expected and parsed.tsn == tsn and not parsed.is_general
        assert parsed.from_server is server_to_client and parsed.disable_default_response is no_default
        assert parsed.name == command.name and parsed.command_id == command.id
        general = foundation.ZCLHeader.general(tsn, foundation.GeneralCommand.Default_Response,
                                               direction=direction)
        general.frame_control = general.frame_control.replace(disable_default_response=no_default)
        frame = zcl_general(tsn, foundation.GeneralCommand.Default_Response,
                            server_to_client=server_to_client, disable_default_response=no_default,
                            command_id=1, status=foundation.Status.SUCCESS)
        assert frame[:3] == general.serialize()
        parsed = parse_zcl(Ota, frame)
        assert parsed.header == general and parsed.tsn == tsn and parsed.is_general


def test_manufacturer_specific_header_and_short_frames() -> None:
    header = foundation.ZCLHeader.cluster(9, 0x05, manufacturer=0x1234)
    parsed = parse_zcl(Ota, header.serialize() + bytes([foundation.Status.ABORT]))
    assert parsed.tsn == 9 and parsed.command_id == 0x05 and parsed.header == header
    with pytest.raises(ValueError, match="shorter than its header"):
        parse_zcl(Ota, b"\x05\x34")


SERVER, CLIENT = Ota.ServerCommandDefs, Ota.ClientCommandDefs
SUCCESS = foundation.Status.SUCCESS
CASES = [
    (SERVER.image_block, {"field_control": BLOCK(0), "file_offset": 4096, "maximum_data_size": 64,
                          **OTA_FIELDS}),
    (SERVER.image_block, {"field_control": BLOCK.MinimumBlockPeriod, "file_offset": 64,
                          "maximum_data_size": 50, "minimum_block_period": 250, **OTA_FIELDS}),
    (SERVER.image_block, {"field_control": BLOCK.RequestNodeAddr, "file_offset": 64, "maximum_data_size": 50,
                          "request_node_addr": EUI64.convert("00:0d:6f:00:0a:bc:00:03"), **OTA_FIELDS}),
    (CLIENT.image_block_response, {"status": SUCCESS, "file_offset": 128, "image_data": bytes(range(64)),
                                   **OTA_FIELDS}),
    (CLIENT.image_block_response, {"status": foundation.Status.WAIT_FOR_DATA, "current_time": 10,
                                   "request_time": 20, "minimum_block_period": 500}),
    (CLIENT.image_block_response, {"status": foundation.Status.ABORT}),
    (SERVER.query_next_image, {"field_control": 1, "hardware_version": 1, "current_file_version": 7,
                               "manufacturer_code": 0x1234, "image_type": 0x0101}),
    (SERVER.upgrade_end, {"status": SUCCESS, **OTA_FIELDS}),
]


@pytest.mark.parametrize(("command", "values"), CASES,
                         ids=[f"{c.name}-{i}" for i, (c, _) in enumerate(CASES)])
def test_payloads_are_zigpys(command, values) -> None:
    codec = SchemaCodec(command.schema)
    assert codec.fast
    expected = command.schema(**values).serialize()
    assert codec.serialize(values) == expected
    parsed, rest = codec.deserialize(expected + b"")
    zigpys, _ = command.schema.deserialize(expected)
    assert rest == b""
    assert {f.name: getattr(parsed, f.name) for f in command.schema.fields} == zigpys.as_dict()
    assert {f.name: type(getattr(parsed, f.name)) for f in command.schema.fields} == \
        {f.name: type(getattr(zigpys, f.name)) for f in command.schema.fields}
    with pytest.raises(ValueError, match="is required"):
        codec.serialize({k: v for k, v in values.items() if k != "field_control" and k != "status"})


def test_an_undefined_status_and_a_short_payload_read_as_zigpy_reads_them() -> None:
    codec = SchemaCodec(CLIENT.image_block_response.schema)
    parsed, rest = codec.deserialize(b"\x42")
    zigpys, _ = CLIENT.image_block_response.schema.deserialize(b"\x42")
    assert rest == b"" and parsed.status == zigpys.status and parsed.status.name == "undefined_0x42"
    assert type(parsed.status) is foundation.Status
    whole = codec.serialize({"status": SUCCESS, "file_offset": 128, "image_data": b"ab", **OTA_FIELDS})
    truncated = whole[:7]
    with pytest.raises(ValueError, match="too short"):
        codec.deserialize(truncated)
    with pytest.raises(ValueError, match="too short"):
        CLIENT.image_block_response.schema.deserialize(truncated)
    with pytest.raises(ValueError, match="not an unsigned 16 bit integer"):  # as zigpy says it
        codec.serialize({"status": SUCCESS, "file_offset": 1, "image_data": b"", **OTA_FIELDS,
                         "manufacturer_code": 0x10000})
    with pytest.raises(ValueError, match="not an unsigned 32 bit integer"):  # zigpy's own field type
        CLIENT.image_block_response.schema.fields.file_offset.type(-1)
    with pytest.raises(ValueError, match="not an unsigned 32 bit integer"):
        codec.serialize({"status": SUCCESS, "file_offset": -1, "image_data": b"", **OTA_FIELDS})


def test_the_capture_fcs_is_crc16_kermit() -> None:
    from hal.capture import crc16_kermit

    assert crc16_kermit(b"123456789") == 0x2189  # the catalogued check value of CRC-16/KERMIT
    assert crc16_kermit(b"") == 0
    # an 802.15.4 ACK frame (frame control 0x0002, sequence 0x2a) and its FCS as a sniffer shows it
    reference = 0
    for byte in bytes.fromhex("02002a"):
        reference ^= byte
        for _ in range(8):
            reference = (reference >> 1) ^ 0x8408 if reference & 1 else reference >> 1
    assert crc16_kermit(bytes.fromhex("02002a")) == reference

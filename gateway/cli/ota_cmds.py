"""``hanrig ota``: inspect, build, sign, verify and index OTA image files (contract: shared ``cli.md``).

Pure file work over ``ota``; no radio. ``ota push``/``ota activate`` join this same group from
``gateway.cli.ota_push_cmds`` (added at the bottom).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import click

import firmware_images
from hanrig_errors import CERT_MAX, KEY_MAX, OTA_IMAGE_MAX, BadInput, BadInputFile, read_input
from ota import (
    Catalogue,
    SignatureStatus,
    build_image,
    load_private_key,
    load_public_key,
    read_image,
    sign_image,
    verify_image,
)
from ota.catalogue import INDEX_NAME
from ota.cpl import cpl_hash
from ota.exceptions import VerificationFailed
from ota.format import Image
from ota.verify import Check

from ..testkeys import image_is_test_signed
from .common import CERT_FILE, EUI64, EXISTING_DIR, IMAGE_FILE, KEY_FILE, emit, fmt_hex, json_option

_OUT = click.Path(dir_okay=False, writable=True, path_type=Path)


class IntType(click.ParamType):
    """An unsigned integer of ``bits`` bits, written in decimal or as 0x-prefixed hex."""

    name = "INT"

    def __init__(self, bits: int) -> None:
        self.bits = bits

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            number = value
        else:
            try:
                number = int(str(value), 0)
            except ValueError:
                self.fail(f"{value!r} is not a number (decimal or 0x hex)", param, ctx)
        if not 0 <= number < 1 << self.bits:
            self.fail(f"{value!r} is outside 0..0x{(1 << self.bits) - 1:x}", param, ctx)
        return number


class TagFileType(click.ParamType):
    """``TAG=FILE``: an extra sub-element whose data is read from FILE."""

    name = "TAG=FILE"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> tuple[int, bytes]:
        if isinstance(value, tuple):
            return value
        tag_text, sep, path = str(value).partition("=")
        if not sep:
            self.fail(f"{value!r} is not TAG=FILE", param, ctx)
        tag = IntType(16).convert(tag_text, param, ctx)
        try:
            return tag, read_input(path, limit=OTA_IMAGE_MAX)
        except BadInputFile as exc:
            self.fail(str(exc), param, ctx)


U8, U16, U32 = IntType(8), IntType(16), IntType(32)


@click.group()
def ota() -> None:
    """OTA image files: inspect, build, sign, verify, index."""


@ota.command()
@click.argument("file", type=IMAGE_FILE)
@click.option("--layout", type=click.Choice(["zigbee", "gbcs"]), default=None,
              help="Read as this layout instead of deciding from the bytes.")
@json_option
def inspect(file: Path, layout: str | None, as_json: bool) -> None:
    """Every header field, the sub-elements, the layout, the Manufacturer Image SHA-256 and any quirks."""
    image = _read(file, layout)
    emit(image_document(image, file), as_json, _render_inspect)


@ota.command()
@click.argument("payload", type=IMAGE_FILE)
@click.option("-o", "--output", "out", type=_OUT, required=True, help="Where to write the OTA file.")
@click.option("--manufacturer", type=U16, required=True, help="Manufacturer code, e.g. 0x1234.")
@click.option("--image-type", type=U16, required=True, help="Image type, e.g. 0x0101.")
@click.option("--file-version", type=U32, required=True, help="File version, e.g. 0x00010000.")
@click.option("--hw-min", type=U16, default=None, help="Minimum hardware version (with --hw-max).")
@click.option("--hw-max", type=U16, default=None, help="Maximum hardware version (with --hw-min).")
@click.option("--header-string", default="", help="Up to 32 bytes of UTF-8.")
@click.option("--layout", type=click.Choice(["zigbee", "gbcs"]), default="zigbee", show_default=True)
@click.option("--sign-key", type=KEY_FILE, default=None,
              help="EC P-256 private key (PEM/DER): add a Supplier signature.")
@click.option("--integrity-code", is_flag=True,
              help="Zigbee layout: append the AES-MMO integrity code (0x0003).")
@click.option("--destination", type=EUI64, default=None, help="Device-specific file: the destination EUI-64.")
@click.option("--security-credential-version", type=U8, default=None)
@click.option("--stack-version", type=U16, default=2, show_default=True)
@click.option("--tag", "tags", type=TagFileType(), multiple=True,
              help="Zigbee layout: an extra sub-element TAG=FILE (0x0001-0x0006, 0xF000-0xFFFF); repeatable.")
@json_option
def build(payload: Path, out: Path, manufacturer: int, image_type: int, file_version: int,
          hw_min: int | None, hw_max: int | None, header_string: str, layout: str, sign_key: Path | None,
          integrity_code: bool, destination: str | None, security_credential_version: int | None,
          stack_version: int, tags: tuple[tuple[int, bytes], ...], as_json: bool) -> None:
    """Build an OTA file holding PAYLOAD as its Manufacturer Image."""
    if (hw_min is None) != (hw_max is None):
        raise click.UsageError("--hw-min and --hw-max go together")
    key = _private_key(sign_key) if sign_key else None
    data = build_image(
        read_input(payload, limit=OTA_IMAGE_MAX), manufacturer_code=manufacturer, image_type=image_type,
        file_version=file_version, layout=layout, hw_min=hw_min, hw_max=hw_max, header_string=header_string,
        destination_ieee=destination, security_credential_version=security_credential_version,
        extra_tags=tags, stack_version=stack_version, sign_key=key, integrity_code=integrity_code)
    out.write_bytes(data)
    emit(_written(out, data), as_json, _render_written)


@ota.command()
@click.argument("file", type=IMAGE_FILE)
@click.option("--key", type=KEY_FILE, required=True, help="EC P-256 private key (PEM/DER).")
@click.option("-o", "--output", "out", type=_OUT, required=True, help="Where to write the signed file.")
@json_option
def sign(file: Path, key: Path, out: Path, as_json: bool) -> None:
    """Add (or replace) the Supplier signature over FILE's Manufacturer Image."""
    data = sign_image(read_input(file, limit=OTA_IMAGE_MAX), _private_key(key), name=str(file))
    out.write_bytes(data)
    emit(_written(out, data), as_json, _render_written)


@ota.command()
@click.argument("file", type=IMAGE_FILE)
@click.option("--cert", type=CERT_FILE, default=None, help="X.509 certificate (PEM/DER) of the signer.")
@click.option("--pubkey", type=KEY_FILE, default=None, help="Signer EC P-256 public key (PEM/DER).")
@json_option
def verify(file: Path, cert: Path | None, pubkey: Path | None, as_json: bool) -> None:
    """Signature, integrity code and size checks; exit 1 when any fails."""
    if cert and pubkey:
        raise click.UsageError("give --cert or --pubkey, not both")
    source = cert or pubkey
    public_key = load_public_key(read_input(source, limit=CERT_MAX), name=str(source)) if source else None
    image = _read(file, None)
    report = verify_image(image, public_key=public_key)
    document = {"file": str(file), "ok": report.ok, "layout": str(image.layout), "sha256": image.sha256,
                "test_only": image_is_test_signed(image),
                "checks": [{"name": c.name, "outcome": str(c.outcome), "message": c.message}
                           for c in report.checks]}
    emit(document, as_json, _render_verify)
    failure = report.first_failure
    if failure is not None:
        raise VerifyFailed(file, failure, report)


@ota.command()
@click.argument("directory", type=EXISTING_DIR)
@click.option("--cert", type=CERT_FILE, default=None,
              help="Check Supplier signatures against this certificate (valid/invalid; else not-checked).")
@click.option("-o", "--output", type=_OUT, default=None,
              help="Write the index here instead of DIRECTORY/index.json.")
@json_option
def index(directory: Path, cert: Path | None, output: Path | None, as_json: bool) -> None:
    """(Re)write DIRECTORY/index.json (or --output) from the image files in DIRECTORY.

    The index bundled with hanrig (firmware_images/) is part of the install: it is never rewritten."""
    target = output if output is not None else directory / INDEX_NAME
    if target.resolve() == (firmware_images.DIRECTORY / INDEX_NAME).resolve():
        raise BadInput(f"{target}: the bundled firmware index is part of hanrig and is not rewritten; "
                       "write elsewhere with --output FILE")
    public_key = load_public_key(read_input(cert, limit=CERT_MAX), name=str(cert)) if cert else None
    catalogue = Catalogue.load(directory, public_key=public_key)
    path = catalogue.write_index(directory, target=target)
    document = {"index": str(path), **catalogue.to_json()}
    for entry, item in zip(catalogue.entries, document["images"], strict=True):
        item["test_only"] = image_is_test_signed(entry.read())  # the mark; index.json keeps its keys
    emit(document, as_json, _render_index)


class VerifyFailed(VerificationFailed):
    """``ota verify`` found a failing check; the message names the file and the first failure."""

    def __init__(self, file: Path, failure: Check, report: object) -> None:
        super().__init__(f"{file}: {failure.name}: {failure.message}", report)


# ------------------------------------------------------------------------------------------ documents


def image_document(image: Image, file: Path | str) -> dict[str, Any]:
    """The JSON shape of ``ota inspect`` (hex ids as strings with ``_int`` twins)."""
    h = image.header
    control = int(h.field_control)
    return {
        "file": str(file),
        "file_size": image.file_size,
        "layout": str(image.layout),
        "header_offset": image.header_offset,
        "header": {
            "file_id": fmt_hex(int(h.file_id), 8),
            "header_version": fmt_hex(int(h.header_version)), "header_version_int": int(h.header_version),
            "header_length": int(h.header_length),
            "field_control": fmt_hex(control), "field_control_int": control,
            "manufacturer_code": fmt_hex(int(h.manufacturer_code)),
            "manufacturer_code_int": int(h.manufacturer_code),
            "image_type": fmt_hex(int(h.image_type)), "image_type_int": int(h.image_type),
            "file_version": fmt_hex(int(h.file_version), 8), "file_version_int": int(h.file_version),
            "stack_version": fmt_hex(int(h.stack_version)), "stack_version_int": int(h.stack_version),
            "header_string": h.header_text,
            "header_string_hex": bytes(h.header_string).hex(),
            "total_image_size": int(h.total_image_size),
            "security_credential_version": _opt_int(h.security_credential_version),
            "destination_ieee": None if h.destination_ieee is None else str(h.destination_ieee),
            "hw_min": _opt_int(h.hw_min),
            "hw_max": _opt_int(h.hw_max),
        },
        "elements": [{"tag": fmt_hex(int(e.tag)), "tag_int": int(e.tag), "name": e.name, "offset": e.offset,
                      "length": e.length, "data_offset": e.data_offset, "data_length": len(e.data)}
                     for e in image.elements],
        "manufacturer_image": {"offset": image.manufacturer_image_offset,
                               "length": len(image.manufacturer_image), "sha256": image.sha256,
                               "cpl_hash": cpl_hash(image.sha256)},
        "test_only": image_is_test_signed(image),
        "signature": {"present": image.signature is not None, "kind": image.signature_kind,
                      "offset": image.signature_offset,
                      "r_s": None if image.signature is None else bytes(image.signature).hex()},
        "integrity_code": None if image.integrity_code is None else bytes(image.integrity_code).hex(),
        "trailing_bytes": image.trailing_bytes,
        "quirks": [{"code": q.code, "offset": q.offset, "message": q.message} for q in image.quirks],
    }


def _render_inspect(doc: dict[str, Any]) -> str:
    h = doc["header"]
    hw = "any" if h["hw_min"] is None else f"{h['hw_min']}..{h['hw_max']}"
    lines = [
        f"{TEST_ONLY_LINE if doc['test_only'] else ''}"
        f"{doc['file']}: {doc['layout']} layout, header at offset {doc['header_offset']}, "
        f"{h['total_image_size']} of {doc['file_size']} bytes",
        f"  manufacturer {h['manufacturer_code']}  image type {h['image_type']}  "
        f"version {h['file_version']}  hardware {hw}",
        f"  header version {h['header_version']}  length {h['header_length']}  field control "
        f"{h['field_control']}  stack {h['stack_version']}",
        f"  header string {h['header_string']!r}",
    ]
    if h["security_credential_version"] is not None:
        lines.append(f"  security credential version {h['security_credential_version']}")
    if h["destination_ieee"] is not None:
        lines.append(f"  destination {h['destination_ieee']}")
    for e in doc["elements"]:
        lines.append(f"  element {e['tag']} {e['name']:<36} offset {e['offset']:>8}  length {e['length']}")
    mi = doc["manufacturer_image"]
    lines.append(f"  manufacturer image: offset {mi['offset']}, {mi['length']} bytes, sha256 {mi['sha256']}")
    lines.append(f"  CPL hash: {mi['cpl_hash']}")
    sig = doc["signature"]
    lines.append(f"  supplier signature: {sig['kind']} at offset {sig['offset']}" if sig["present"]
                 else "  supplier signature: none")
    if doc["integrity_code"]:
        lines.append(f"  integrity code: {doc['integrity_code']}")
    for q in doc["quirks"]:
        lines.append(f"  quirk {q['code']} at offset {q['offset']}: {q['message']}")
    return "\n".join(lines)


def _render_verify(doc: dict[str, Any]) -> str:
    lines = [f"{TEST_ONLY_LINE if doc['test_only'] else ''}"
             f"{doc['file']}: {'OK' if doc['ok'] else 'FAILED'} ({doc['layout']}, sha256 {doc['sha256']})"]
    lines += [f"  {c['outcome'].upper():<4} {c['name']}: {c['message']}" for c in doc["checks"]]
    return "\n".join(lines)


def _render_index(doc: dict[str, Any]) -> str:
    lines = [f"{doc['index']}: {len(doc['images'])} image(s)"]
    for e in doc["images"]:
        hw = "any" if e["hw_min"] is None else f"{e['hw_min']}..{e['hw_max']}"
        role = e["role"] or "role unknown"
        mark = "TEST-ONLY " if e["test_only"] else ""
        lines.append(f"  {mark}{e['file']}: {role} {e['manufacturer_code']}/{e['image_type']} "
                     f"{e['file_version']} hw {hw} {e['layout']} signature {_signature_text(e['signature'])}")
    return "\n".join(lines)


TEST_ONLY_LINE = "TEST-ONLY: signed with the published test key; for the bench only\n"


def _signature_text(status: str) -> str:
    return "not checked (no --cert)" if status == SignatureStatus.NOT_CHECKED else status


def _written(out: Path, data: bytes) -> dict[str, Any]:
    image = read_image(data, name=str(out))
    return {"file": str(out), "size": len(data), "layout": str(image.layout), "sha256": image.sha256,
            "signed": image.signature is not None}


def _render_written(doc: dict[str, Any]) -> str:
    signed = "signed" if doc["signed"] else "unsigned"
    return f"{doc['file']}: {doc['size']} bytes, {doc['layout']}, {signed}, sha256 {doc['sha256']}"


def _read(file: Path, layout: str | None) -> Image:
    return read_image(read_input(file, limit=OTA_IMAGE_MAX), name=str(file), layout=layout)


def _private_key(path: Path) -> Any:
    return load_private_key(read_input(path, limit=KEY_MAX), name=str(path))


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


# ``ota push``/``ota activate`` live in their own module (radio work) and join this group here.
_push_cmds = importlib.import_module("gateway.cli.ota_push_cmds")
ota.add_command(_push_cmds.push)
ota.add_command(_push_cmds.activate)

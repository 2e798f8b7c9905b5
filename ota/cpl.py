"""The Central Products List (CPL) as an allow-list for firmware (issue 15; SECMP0007).

The CPL lists, per Device Model, the firmware versions allowed on the GB smart metering network and the
hash of each one's Manufacturer Image. SECAS asks submitters to give Device Model details and the hash in
hexadecimal; the hash is the SHA-256 of the Manufacturer Image (the one Activate Firmware uses), written
as 64 upper-case hex digits (:func:`cpl_hash`, also what ``hanrig ota inspect`` prints).

The OTA header is not covered by the Supplier signature (GBCS signs the Manufacturer Image only), so a
header relabelled with another manufacturer, version or image type still verifies; only the CPL ties the
hash to the Device Model and version. :meth:`Cpl.refusal` says why an image may not go to a device.

File format (``--cpl FILE``), CSV with a header row naming at least these columns (any order, case and
spacing ignored; the CPL's longer names are accepted): ``manufacturer`` (Manufacturer Identifier, hex),
``model`` (Model Identifier: hex, or the device's Basic ModelIdentifier text), ``firmware_version``
(hex, e.g. ``00010100``) and ``hash`` (Firmware Hash, 64 hex digits). A file of bare hashes, one per line,
is also read (an allow-list by hash only; then the Device Model is not checked). ``#`` starts a comment.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

from .exceptions import CplError

HEADER_NAMES = {
    "manufacturer": ("manufacturer", "manufacturer identifier", "manufacturer id", "manufacturer_code"),
    "model": ("model", "model identifier", "model id", "device model"),
    "firmware_version": ("firmware_version", "firmware version", "version"),
    "hash": ("hash", "firmware hash", "manufacturer image hash", "sha256", "firmware image hash"),
}
_HEX = re.compile(r"(0x)?[0-9a-f]+", re.IGNORECASE)
_SHA256 = re.compile(r"[0-9a-f]{64}", re.IGNORECASE)


def cpl_hash(sha256_hex: str) -> str:
    """A Manufacturer Image SHA-256 as the CPL writes it: 64 upper-case hex digits."""
    return sha256_hex.upper()


@dataclass(frozen=True)
class CplEntry:
    """One CPL row: this hash is allowed as this firmware version on this Device Model."""

    manufacturer: int | None
    model: str | None
    firmware_version: int | None
    sha256: str  # lower-case hex
    line: int

    def model_matches(self, model: str | None) -> bool:
        if self.model is None:
            return True
        if model is None:
            return False
        return self.model.casefold() in (model.casefold(), model.encode().hex().casefold())


@dataclass(frozen=True)
class Cpl:
    """The entries of one CPL file."""

    source: str
    entries: tuple[CplEntry, ...]

    def refusal(self, sha256_hex: str, *, manufacturer: int, firmware_version: int,
                model: str | None) -> str | None:
        """Why an image with this Manufacturer Image hash and header may not go to a device of ``model``
        (None when the CPL lists it for exactly that)."""
        listed = [e for e in self.entries if e.sha256 == sha256_hex.lower()]
        shown = cpl_hash(sha256_hex)
        if not listed:
            return f"manufacturer image hash {shown} is not on the CPL list ({self.source})"
        for entry in listed:
            if (entry.manufacturer in (None, manufacturer) and entry.model_matches(model)
                    and entry.firmware_version in (None, firmware_version)):
                return None
        entry = listed[0]
        said = (f"the header says manufacturer 0x{manufacturer:04x}, version 0x{firmware_version:08x}, "
                f"the device's model is {model if model is not None else 'unknown'}")
        wants = (f"the CPL ({self.source}:{entry.line}) lists hash {shown} for manufacturer "
                 f"{_opt_hex(entry.manufacturer, 4)}, model {entry.model or 'any'}, version "
                 f"{_opt_hex(entry.firmware_version, 8)}")
        return f"{wants}; {said}"


def as_cpl(value: Cpl | frozenset[str] | set[str], source: str = "CPL") -> Cpl:
    """A :class:`Cpl`, or a set of bare Manufacturer Image hashes made into one (hash-only entries)."""
    if isinstance(value, Cpl):
        return value
    return Cpl(source, tuple(CplEntry(None, None, None, h.lower(), 0) for h in sorted(value)))


def _opt_hex(value: int | None, width: int) -> str:
    return "any" if value is None else f"0x{value:0{width}x}"


def read_cpl(text: str, source: str) -> Cpl:
    """Parse a CPL file's text (see the module docstring); a bad line is a :class:`CplError` naming it."""
    lines = [(n, line.split("#", 1)[0].strip()) for n, line in enumerate(text.splitlines(), 1)]
    lines = [(n, line) for n, line in lines if line]
    if not lines:
        raise CplError(f"{source}: no entries")
    if "," not in lines[0][1]:
        return Cpl(source, tuple(_bare_hash(source, n, line) for n, line in lines))
    rows = list(csv.reader(io.StringIO("\n".join(line for _, line in lines))))
    columns = _columns(source, lines[0][0], rows[0])
    entries = []
    for (number, _), row in zip(lines[1:], rows[1:], strict=True):
        if len(row) < len(rows[0]):
            raise CplError(f"{source}:{number}: {len(row)} fields, the header names {len(rows[0])}")
        value = {key: row[index].strip() for key, index in columns.items()}
        entries.append(CplEntry(
            manufacturer=_hex(source, number, "manufacturer", value["manufacturer"], 16),
            model=value["model"] or None,
            firmware_version=_hex(source, number, "firmware_version", value["firmware_version"], 32),
            sha256=_sha256(source, number, value["hash"]), line=number))
    if not entries:
        raise CplError(f"{source}: a header and no entries")
    return Cpl(source, tuple(entries))


def _columns(source: str, number: int, header: list[str]) -> dict[str, int]:
    names = [" ".join(h.strip().lower().replace("_", " ").split()) for h in header]
    columns = {}
    for key, spellings in HEADER_NAMES.items():
        wanted = {" ".join(s.replace("_", " ").split()) for s in spellings}
        found = [i for i, name in enumerate(names) if name in wanted]
        if not found:
            raise CplError(f"{source}:{number}: no {key} column in the header (columns: {', '.join(header)})")
        columns[key] = found[0]
    return columns


def _bare_hash(source: str, number: int, line: str) -> CplEntry:
    return CplEntry(None, None, None, _sha256(source, number, line), number)


def _sha256(source: str, number: int, text: str) -> str:
    if not _SHA256.fullmatch(text):
        raise CplError(f"{source}:{number}: {text[:70]!r} is not a SHA-256 (64 hex digits)")
    return text.lower()


def _hex(source: str, number: int, key: str, text: str, bits: int) -> int | None:
    if text in ("", "*"):
        return None
    if not _HEX.fullmatch(text):
        raise CplError(f"{source}:{number}: {key} {text[:30]!r} is not hexadecimal")
    value = int(text, 16)
    if value >= 1 << bits:
        raise CplError(f"{source}:{number}: {key} {text!r} does not fit {bits} bits")
    return value

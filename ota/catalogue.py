"""The image catalogue: a directory of OTA files, its ``index.json``, and the choice of which image to
offer a device (the newest newer version within its hardware range; a downgrade only when asked).

Entries are metadata; ``Entry.read()`` loads the bytes and checks they are still the indexed ones.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from hanrig_errors import INDEX_MAX, OTA_IMAGE_MAX, BadInputFile, read_input, read_input_text

from . import signing
from .exceptions import CatalogueConflict, CatalogueError
from .format import Image, ImageIdentity, Layout, read_image

INDEX_NAME = "index.json"
INDEX_VERSION = 1
# Which files in a catalogue directory are OTA images (Koenkk/zigbee-OTA's suffixes, plus .gbcs). Not
# .bin: that is what raw payloads are usually called, and they sit beside the images they became.
IMAGE_SUFFIXES = (".ota", ".zigbee", ".signed", ".gbcs")
ROLES = ("IHD", "PPMID", "HCALCS", "ESME", "GSME")
# Intended role, by identity. hanrig's own sample identities, then the GBCS image types seen in the
# DCC sample images (GBCS layout only: in Zigbee files these numbers mean whatever the vendor says).
SAMPLE_ROLES: dict[tuple[int, int], str] = {(0x1234, 0x0101): "IHD", (0x1234, 0x0084): "PPMID",
                                            (0x1234, 0x0103): "HCALCS"}
GBCS_ROLES: dict[int, str] = {0x0000: "ESME", 0x0084: "PPMID"}


class SignatureStatus:
    """What the index says about an image's Supplier signature."""

    ABSENT = "absent"
    NOT_CHECKED = "not-checked"  # carried, but no certificate was given when indexing: nobody checked it
    VALID = "valid"
    INVALID = "invalid"

    ALL = (ABSENT, NOT_CHECKED, VALID, INVALID)
    CHECKED = (VALID, INVALID)
    LEGACY = {"present": NOT_CHECKED}  # what indexes written before "not-checked" said


@dataclasses.dataclass(frozen=True)
class Entry:
    """One catalogued image: where it is, what it is, and the hash of its bytes."""

    path: Path
    size: int
    sha256: str  # of the whole file
    manufacturer_image_sha256: str  # the Activate Firmware hash
    identity: ImageIdentity
    layout: Layout
    signature: str
    role: str | None

    @property
    def file(self) -> str:
        return self.path.name

    def read(self) -> Image:
        """The image, after checking the file still has the indexed SHA-256."""
        data = read_input(self.path, limit=OTA_IMAGE_MAX)
        digest = hashlib.sha256(data).hexdigest()
        if digest != self.sha256:
            raise CatalogueError(f"{self.path}: SHA-256 {digest} differs from the catalogue's {self.sha256}; "
                                 f"re-run 'hanrig ota index'")
        return read_image(data, name=str(self.path))

    def to_json(self) -> dict[str, Any]:
        i = self.identity
        return {
            "file": self.file, "size": self.size, "sha256": self.sha256,
            "manufacturer_image_sha256": self.manufacturer_image_sha256,
            "manufacturer_code": f"0x{i.manufacturer_code:04x}", "manufacturer_code_int": i.manufacturer_code,
            "image_type": f"0x{i.image_type:04x}", "image_type_int": i.image_type,
            "file_version": f"0x{i.file_version:08x}", "file_version_int": i.file_version,
            "hw_min": i.hw_min, "hw_max": i.hw_max, "layout": str(self.layout),
            "signature": self.signature, "role": self.role,
        }


def intended_role(image: Image) -> str | None:
    """The device role an image is meant for, where hanrig can tell; None otherwise."""
    i = image.identity
    role = SAMPLE_ROLES.get((i.manufacturer_code, i.image_type))
    if role is None and image.layout is Layout.GBCS:
        role = GBCS_ROLES.get(i.image_type)
    return role


def entry_for(path: Path, data: bytes, *, public_key: ec.EllipticCurvePublicKey | None = None) -> Entry:
    """Index one image file."""
    image = read_image(data, name=str(path))
    if image.signature is None:
        status = SignatureStatus.ABSENT
    elif public_key is None:
        status = SignatureStatus.NOT_CHECKED
    else:
        valid = signing.verify_raw(public_key, image.manufacturer_image, image.signature)
        status = SignatureStatus.VALID if valid else SignatureStatus.INVALID
    return Entry(path, len(data), hashlib.sha256(data).hexdigest(), image.sha256, image.identity,
                 image.layout, status, intended_role(image))


class Catalogue:
    """A set of images with no two claiming the same identity with different bytes."""

    def __init__(self, entries: Iterable[Entry], *, directory: Path | None = None) -> None:
        self.directory = directory
        self.entries: tuple[Entry, ...] = tuple(sorted(entries, key=lambda e: e.path.name))
        _check_conflicts(self.entries)

    @classmethod
    def load(cls, directory: str | os.PathLike[str], *,
             public_key: ec.EllipticCurvePublicKey | None = None) -> Catalogue:
        """Read every image file in ``directory`` (by suffix, see IMAGE_SUFFIXES)."""
        root = Path(directory)
        if not root.is_dir():
            raise CatalogueError(f"{root}: not a directory")
        entries = [entry_for(path, read_input(path, limit=OTA_IMAGE_MAX), public_key=public_key)
                   for path in _image_files(root)]
        return cls(entries, directory=root)

    @classmethod
    def from_index(cls, index: str | os.PathLike[str]) -> Catalogue:
        """The catalogue an ``index.json`` describes (a file, or the directory holding it)."""
        path = Path(index)
        if path.is_dir():
            path = path / INDEX_NAME
        try:
            document = json.loads(read_input_text(path, limit=INDEX_MAX))
        except BadInputFile as exc:
            raise CatalogueError(str(exc)) from None
        except json.JSONDecodeError as exc:
            raise CatalogueError(f"{path}: not JSON: {exc}") from None
        return cls(_entries_from_index(path, document), directory=path.parent)

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def select(self, manufacturer_code: int, image_type: int, current_version: int,
               hardware_version: int | None = None, allow_downgrade: bool = False,
               target_version: int | None = None) -> Entry | None:
        """The image to offer a device, or None.

        Candidates match the manufacturer code and image type (0xFFFF in an image is a wildcard) and the
        hardware range (not checked when the device does not state its hardware version, as ZCL leaves
        that check to the client). With ``target_version``: that version, if it is newer, or older and
        ``allow_downgrade``. Without: the newest candidate if it is newer, or (only with
        ``allow_downgrade``) the newest candidate even when it is older than what the device runs.
        """
        candidates = [e for e in self.entries
                      if e.identity.manufacturer_code in (manufacturer_code, 0xFFFF)
                      and e.identity.image_type in (image_type, 0xFFFF)
                      and e.identity.fits_hardware(hardware_version)]
        if target_version is not None:
            candidates = [e for e in candidates if e.identity.file_version == target_version]
        if not candidates:
            return None
        best = max(candidates, key=lambda e: (e.identity.file_version, e.identity.manufacturer_code != 0xFFFF,
                                              e.identity.image_type != 0xFFFF))
        version = best.identity.file_version
        if version > current_version or (allow_downgrade and version < current_version):
            return best
        return None

    def to_json(self) -> dict[str, Any]:
        return {"version": INDEX_VERSION, "images": [entry.to_json() for entry in self.entries]}

    def write_index(self, directory: str | os.PathLike[str] | None = None, *,
                    target: str | os.PathLike[str] | None = None) -> Path:
        """Write ``index.json`` (sorted, no timestamps, so it only changes when the images do), in
        ``directory`` or at ``target``.

        Never over a verdict this run could not reach: rewriting an index whose entry for the same bytes
        says ``valid``/``invalid`` as ``not-checked`` (no certificate given this time) is refused, so an
        index never loses a checked verdict in place; give the certificate, or write elsewhere."""
        root = Path(directory) if directory is not None else self.directory
        if root is None and target is None:
            raise CatalogueError("write_index needs a directory")
        path = Path(target) if target is not None else root / INDEX_NAME  # type: ignore[operator]
        self._refuse_downgrade(path)
        staging = path.parent / f".{path.name}.tmp"
        staging.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")
        os.replace(staging, path)
        return path

    def _refuse_downgrade(self, path: Path) -> None:
        if not path.exists():
            return
        try:
            before = {e.sha256: e.signature for e in Catalogue.from_index(path).entries}
        except CatalogueError:
            return  # an unreadable old index holds no verdict to keep
        for entry in self.entries:
            old = before.get(entry.sha256)
            if old in SignatureStatus.CHECKED and entry.signature not in SignatureStatus.CHECKED:
                raise CatalogueError(
                    f"{path}: {entry.file}: the index says its signature is {old}, and without a certificate "
                    f"this run could only say {entry.signature}; give --cert, or write the index elsewhere")


def write_index(directory: str | os.PathLike[str], *,
                public_key: ec.EllipticCurvePublicKey | None = None) -> Path:
    """Catalogue ``directory`` and (re)write its ``index.json``; returns the index path."""
    return Catalogue.load(directory, public_key=public_key).write_index(directory)


def _image_files(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir()
                  if p.is_file() and not p.name.startswith(".") and p.name.lower().endswith(IMAGE_SUFFIXES))


def _check_conflicts(entries: tuple[Entry, ...]) -> None:
    """Same manufacturer, type and version with overlapping hardware ranges must be the same bytes."""
    seen: dict[tuple[int, int, int], list[Entry]] = {}
    for entry in entries:
        i = entry.identity
        for other in seen.setdefault((i.manufacturer_code, i.image_type, i.file_version), []):
            if other.sha256 != entry.sha256 and _ranges_overlap(other.identity, i):
                raise CatalogueConflict(
                    f"{other.file} and {entry.file} both claim manufacturer 0x{i.manufacturer_code:04x} "
                    f"image type 0x{i.image_type:04x} version 0x{i.file_version:08x} "
                    f"(hardware {_hw(other.identity)} / {_hw(i)}) with different bytes")
        seen[(i.manufacturer_code, i.image_type, i.file_version)].append(entry)


def _ranges_overlap(a: ImageIdentity, b: ImageIdentity) -> bool:
    if a.hw_min is None or a.hw_max is None or b.hw_min is None or b.hw_max is None:
        return True
    return a.hw_min <= b.hw_max and b.hw_min <= a.hw_max


def _hw(identity: ImageIdentity) -> str:
    return "any" if identity.hw_min is None else f"{identity.hw_min}..{identity.hw_max}"


_INDEX_KEYS = {"file", "size", "sha256", "manufacturer_image_sha256", "manufacturer_code",
               "manufacturer_code_int", "image_type", "image_type_int", "file_version", "file_version_int",
               "hw_min", "hw_max", "layout", "signature", "role"}


def _entries_from_index(path: Path, document: Any) -> list[Entry]:
    if not isinstance(document, dict) or set(document) != {"version", "images"}:
        raise CatalogueError(f"{path}: expected an object with 'version' and 'images'")
    if document["version"] != INDEX_VERSION:
        raise CatalogueError(f"{path}: version {document['version']!r}, this hanrig reads {INDEX_VERSION}")
    if not isinstance(document["images"], list):
        raise CatalogueError(f"{path}: images: expected a list")
    entries = []
    for n, item in enumerate(document["images"]):
        where = f"{path}: images[{n}]"
        if not isinstance(item, dict):
            raise CatalogueError(f"{where}: expected an object")
        unknown, missing = set(item) - _INDEX_KEYS, _INDEX_KEYS - set(item)
        if unknown or missing:
            raise CatalogueError(f"{where}: unknown keys {sorted(unknown)}, missing keys {sorted(missing)}")
        try:
            entries.append(_entry_from_json(path.parent, item))
        except (TypeError, ValueError) as exc:
            raise CatalogueError(f"{where}: {exc}") from None
    return entries


def _entry_from_json(root: Path, item: dict[str, Any]) -> Entry:
    file = item["file"]
    if not isinstance(file, str) or Path(file).name != file:
        raise ValueError(f"file {file!r} must be a plain file name in the index's directory")
    item = {**item, "signature": SignatureStatus.LEGACY.get(item["signature"], item["signature"])}
    if item["signature"] not in SignatureStatus.ALL:
        raise ValueError(f"signature {item['signature']!r} not one of {', '.join(SignatureStatus.ALL)}")
    if item["role"] is not None and item["role"] not in ROLES:
        raise ValueError(f"role {item['role']!r} not one of {', '.join(ROLES)}")
    hw_min, hw_max = item["hw_min"], item["hw_max"]
    for key in ("size", "manufacturer_code_int", "image_type_int", "file_version_int"):
        if type(item[key]) is not int:
            raise ValueError(f"{key}: expected an integer, got {item[key]!r}")
    for value in (hw_min, hw_max):
        if value is not None and type(value) is not int:
            raise ValueError(f"hardware versions must be integers or null, got {value!r}")
    identity = ImageIdentity(item["manufacturer_code_int"], item["image_type_int"], item["file_version_int"],
                             hw_min, hw_max)
    return Entry(root / file, item["size"], str(item["sha256"]), str(item["manufacturer_image_sha256"]),
                 identity, Layout(item["layout"]), item["signature"], item["role"])

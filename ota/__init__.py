"""OTA images: the Zigbee (ZCL ch. 11) and GBCS file formats, signing and verification, the image
catalogue, and (on top, with zigpy) the OTA server and campaigns. The format, signing and catalogue
modules are pure: bytes in, objects and verdicts out, no radio and no event loop.

Layering: ``signing`` (crypto primitives) -> ``format`` (bytes <-> ``Image``) -> ``verify`` (checks)
-> ``catalogue`` (a directory of images and the choice of which to offer).
"""

from .catalogue import Catalogue, Entry, SignatureStatus, intended_role, write_index
from .exceptions import BuildError, CatalogueConflict, CatalogueError, ImageError, KeyFileError
from .format import (
    Element,
    ElementTag,
    FieldControl,
    Image,
    ImageIdentity,
    Layout,
    OtaHeader,
    Quirk,
    build_image,
    read_image,
    sign_image,
)
from .signing import aes_mmo_hash, load_private_key, load_public_key
from .verify import Check, Outcome, VerifyReport, verify_image

__all__ = [
    "BuildError", "Catalogue", "CatalogueConflict", "CatalogueError", "Check", "Element", "ElementTag",
    "Entry", "FieldControl", "Image", "ImageError", "ImageIdentity", "KeyFileError", "Layout", "OtaHeader",
    "Outcome", "Quirk", "SignatureStatus", "VerifyReport", "aes_mmo_hash", "build_image", "intended_role",
    "load_private_key", "load_public_key", "read_image", "sign_image", "verify_image", "write_index",
]

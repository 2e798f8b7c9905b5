"""Test keys stay on the bench (issue 15): what is signed or issued under the published TEST-ONLY keys,
and which radios are the bench.

hanrig ships TEST-ONLY material so the simulated bench works out of the box: a Supplier signing key the
sample firmware is signed with (``firmware_images/TEST-ONLY-supplier-signing-*.pem``) and an SMKI
hierarchy (``certs.testpki``, root ``TEST-ONLY SMKI Root`` under the test-environment policy OID). Anyone
can sign with those keys, so on real hardware they prove nothing. Every output marks such material
TEST-ONLY, and on a real radio (anything but ``sim://`` and hanrig's own virtual EZSP stick) hanrig
refuses to push such an image or trust such a chain unless ``--allow-test-keys`` is given, and records
that it was.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

import firmware_images
from certs.testpki import TEST_ONLY

TEST_SUPPLIER_CERT = firmware_images.DIRECTORY / f"{TEST_ONLY}-supplier-signing-cert.pem"
TEST_POLICY_OID = "1.2.826.0.1.8641679.1.2.1.4"  # the GBCS test-environment certificate policy
VIRTUAL_STICK = ("hanrig", "virtual-ezsp-stick")  # what hanrig's virtual stick reports (MFG string, board)
MARK = "TEST-ONLY"
TEST_ROOT = f"{TEST_ONLY} SMKI Root"  # the subject CN of certs.testpki's root


@functools.cache
def _test_supplier_key() -> Any:
    from ota import load_public_key

    return load_public_key(TEST_SUPPLIER_CERT.read_bytes(), name=str(TEST_SUPPLIER_CERT))


def image_is_test_signed(image: Any) -> bool:
    """True when the image's Supplier signature verifies against the published TEST-ONLY key."""
    from ota import signing

    if image.signature is None:
        return False
    return bool(signing.verify_raw(_test_supplier_key(), image.manufacturer_image, image.signature))


def certificate_is_test(cert: Any) -> bool:
    """True for an SMKI certificate under the TEST-ONLY root or the test-environment policy."""
    names = f"{cert.subject} {cert.issuer}"
    return MARK in names or TEST_POLICY_OID in tuple(cert.policy_oids)


def is_bench_radio(app: Any, url: str) -> bool:
    """``sim://`` (by URL or by its application), or hanrig's virtual EZSP stick (it says so in its
    manufacturing tokens)."""
    from hal.sim.application import SimApplication

    if url.startswith("sim:") or isinstance(app, SimApplication):
        return True
    info = getattr(getattr(app, "state", None), "node_info", None)
    return (getattr(info, "manufacturer", None), getattr(info, "model", None)) == VIRTUAL_STICK


def certificates_are_test(ders: Iterable[bytes]) -> bool:
    """Whether any of these certificates (DER/PEM) is under the TEST-ONLY root or the test policy (damaged
    ones are the verification's business, not this mark's)."""
    from certs import MalformedCertificate, load_certificate

    for der in ders:
        try:
            if certificate_is_test(load_certificate(der, name="certificate")):
                return True
        except MalformedCertificate:
            continue
    return False

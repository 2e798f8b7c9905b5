"""The two ways CBKE's curve arithmetic is done, held to each other: OpenSSL's libcrypto through
``certs.ecc_openssl`` (the fast path) and the pure-Python tau-adic NAF of ``certs.ecc_koblitz`` (the
fallback). Python is the referee here; the published vectors of test_cbke_crypto.py referee both (they
run on whichever path the process has, and, forced, on Python below).

Random points are drawn as random x with a decompressible y, so most carry a part outside G's subgroup
(the curves have h*n points, h = 2 and 4): exactly where a product that reduces scalars modulo n
instead of h*n would go wrong.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_cbke_crypto import ZSE_C5, _identity, _zse_party

from certs import ecc_koblitz, ecc_openssl
from certs.cbke import EphemeralKey, ecmqv_shared_secret, establish, reconstruct_public_key
from certs.ecc_koblitz import SECT163K1, SECT283K1, InvalidPoint, KoblitzCurve, python_arithmetic

CURVES = [SECT163K1, SECT283K1]
_SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _openssl(curve: KoblitzCurve) -> ecc_openssl.OpenSslCurve | None:
    return ecc_openssl.for_curve(curve.name, curve.generator, curve.n, curve.cofactor, curve.field_bytes)


needs_openssl = pytest.mark.skipif(_openssl(SECT283K1) is None or _openssl(SECT163K1) is None,
                                   reason="this Python's libcrypto has no binary curves: Python only")


def _python_point(curve: KoblitzCurve, x: int, y_bit: int) -> tuple[int, int] | None:
    """A point of the curve by Python's decompression, or None when no point has this x."""
    try:
        with python_arithmetic():
            return curve._decode_uncached(bytes([2 | y_bit]) + x.to_bytes(curve.field_bytes, "big"))
    except InvalidPoint:
        return None


def _special_scalars(curve: KoblitzCurve) -> list[int]:
    n, hn = curve.n, curve.cofactor * curve.n
    return [1, 2, 3, n - 1, n, n + 1, 2 * n + 1, hn - 1, hn, hn + 1, -1, -n - 1, 3 * hn + 5]


def _torsion_points(curve: KoblitzCurve) -> list[tuple[int, int]]:
    """Every point of order dividing h other than infinity: (0, 1) of order 2 and, on sect283k1, the two
    points of order 4 (the halves of (0, 1)), found as n * R for random points R."""
    found = {(0, 1)}
    x = 2
    while len(found) < curve.cofactor - 1:
        point = _python_point(curve, x, 0)
        if point is not None:
            small = curve.python_multi_multiply([(curve.n, point)])
            if small is not None:
                found.add(small)
        x += 1
    return sorted(found)


@needs_openssl
def test_openssl_is_what_the_curves_use_when_the_library_has_them(monkeypatch) -> None:
    """With OpenSSL available a whole exchange never reaches the Python products (they are made to
    fail here), so the fast path cannot silently fall away."""
    def refuse(*_args, **_kwargs):
        raise AssertionError("the Python path ran although OpenSSL has the curve")

    monkeypatch.setattr(KoblitzCurve, "python_multi_multiply", refuse)
    monkeypatch.setattr(KoblitzCurve, "python_multiply_generator", refuse)
    monkeypatch.setattr(KoblitzCurve, "_python_decompress", refuse)
    for suite in (1, 2):
        curve = CURVES[suite - 1]
        curve._decoded.clear()     # so the keys are decompressed again, by OpenSSL
        (u, eu), (w, ew) = _zse_party(suite, "initiator"), _zse_party(suite, "responder")
        z = ecmqv_shared_secret(suite, static_private_key=u.private_key, ephemeral_private_key=eu.private_key,
                                ephemeral_public_key=eu.public_key, partner_certificate=w.certificate,
                                partner_ephemeral_public_key=ew.public_key, ca_public_key=u.ca_public_key)
        assert z.hex() == ZSE_C5[suite]["z"]
        assert curve.public_key(u.private_key).hex() == ZSE_C5[suite]["initiator"]["public"]


@pytest.mark.skipif(not sys.platform.startswith("linux") or shutil.which("openssl") is None,
                    reason="needs Linux and the openssl command")
def test_the_fast_path_is_found_where_this_pythons_openssl_has_the_curves() -> None:
    """When the openssl command is the very OpenSSL Python's ssl module uses and it lists sect283k1, the
    detection must find the curves (a broken detection would otherwise only show as slowness)."""
    version = subprocess.run(["openssl", "version"], capture_output=True, text=True).stdout.split()[:2]
    if version != ssl.OPENSSL_VERSION.split()[:2]:
        pytest.skip(f"openssl command {version} is not Python's {ssl.OPENSSL_VERSION}")
    curves = subprocess.run(["openssl", "ecparam", "-list_curves"], capture_output=True, text=True).stdout
    if "sect283k1" not in curves:
        pytest.skip("this OpenSSL is built without binary curves")
    assert _openssl(SECT163K1) is not None and _openssl(SECT283K1) is not None


@needs_openssl
@pytest.mark.parametrize("curve", CURVES, ids=lambda c: c.name)
@_SETTINGS
@given(k=st.integers(min_value=0, max_value=1 << 290))
def test_generator_products_agree(curve: KoblitzCurve, k: int) -> None:
    assert curve.multiply_generator(k) == curve.python_multiply_generator(k)


@needs_openssl
@pytest.mark.parametrize("curve", CURVES, ids=lambda c: c.name)
@_SETTINGS
@given(data=st.data())
def test_sums_of_products_on_random_points_agree(curve: KoblitzCurve, data: st.DataObject) -> None:
    terms = []
    for _ in range(data.draw(st.integers(1, 3), label="terms")):
        x = data.draw(st.integers(1, (1 << curve.m) - 1), label="x")
        point = _python_point(curve, x, data.draw(st.integers(0, 1), label="y bit"))
        assume(point is not None)
        k = data.draw(st.one_of(st.integers(-(1 << 300), 1 << 300), st.sampled_from(_special_scalars(curve))),
                      label="k")
        terms.append((k, point))
    assert curve.multi_multiply(terms) == curve.python_multi_multiply(terms)


@needs_openssl
@pytest.mark.parametrize("curve", CURVES, ids=lambda c: c.name)
def test_special_scalars_on_points_outside_the_subgroup_agree(curve: KoblitzCurve) -> None:
    """Multiples of n and h*n and their neighbours on the points of order 2 and 4 and on G plus each of
    them. The small-order points themselves go to Python (OpenSSL's ladder gets 3 * (1, 0) wrong on
    sect283k1, and divides by x = 0): ``supports`` must say so, or this test fails."""
    openssl = _openssl(curve)
    torsion = _torsion_points(curve)
    assert len(torsion) == curve.cofactor - 1
    points = torsion + [curve.add(curve.generator, t) for t in torsion]
    for point in points:
        assert curve.is_on_curve(point)
        for k in _special_scalars(curve):
            if openssl.supports(point):
                assert openssl.multi_multiply([(k, point)]) == curve.python_multi_multiply([(k, point)])
            assert curve.multiply(k, point) == curve.python_multi_multiply([(k, point)])
    assert not any(openssl.supports(t) for t in torsion)


@needs_openssl
@pytest.mark.parametrize("curve", CURVES, ids=lambda c: c.name)
@_SETTINGS
@given(x=st.integers(0, (1 << 288) - 1), y_bit=st.integers(0, 1))
def test_decompression_agrees(curve: KoblitzCurve, x: int, y_bit: int) -> None:
    """Both decompress an x to the same point or both refuse it; x of m bits or more is refused early."""
    data = bytes([2 | y_bit]) + (x % (1 << (8 * curve.field_bytes))).to_bytes(curve.field_bytes, "big")
    outcomes = []
    for force_python in (False, True):
        try:
            if force_python:
                with python_arithmetic():
                    outcomes.append(curve._decode_uncached(data))
            else:
                outcomes.append(curve._decode_uncached(data))
        except InvalidPoint as exc:
            outcomes.append(str(exc))
    assert outcomes[0] == outcomes[1]


@needs_openssl
def test_a_point_off_the_curve_is_refused_by_openssl() -> None:
    g = SECT283K1.generator
    with pytest.raises(ValueError, match="not a point of the curve"):
        _openssl(SECT283K1).multi_multiply([(5, (g[0], g[1] ^ 1))])


@pytest.mark.parametrize("suite", [1, 2])
def test_a_whole_exchange_without_openssl(monkeypatch, suite: int) -> None:
    """As on a libcrypto without EC2M: detection gives None and everything runs in Python. ZSE annex C.5
    still reproduces, and a fresh exchange agrees with itself and (when OpenSSL is there) with the
    OpenSSL path on the same keys."""
    monkeypatch.setattr(ecc_openssl, "_shared_libcrypto", lambda: None)
    ecc_openssl.for_curve.cache_clear()
    curve = CURVES[suite - 1]
    try:
        assert _openssl(curve) is None and curve._openssl is None
        monkeypatch.setattr(ecc_openssl.OpenSslCurve, "multi_multiply", None)   # any use would raise
        monkeypatch.setattr(ecc_openssl.OpenSslCurve, "multiply_generator", None)
        monkeypatch.setattr(ecc_openssl.OpenSslCurve, "decompress", None)
        curve._decoded.clear()
        (u, eu), (w, ew) = _zse_party(suite, "initiator"), _zse_party(suite, "responder")
        reconstructed = reconstruct_public_key(u.certificate, u.ca_public_key)
        assert reconstructed.hex() == ZSE_C5[suite]["initiator"]["public"]
        assert curve.public_key(ew.private_key) == ew.public_key
        z = ecmqv_shared_secret(suite, static_private_key=w.private_key, ephemeral_private_key=ew.private_key,
                                ephemeral_public_key=ew.public_key, partner_certificate=u.certificate,
                                partner_ephemeral_public_key=eu.public_key, ca_public_key=w.ca_public_key)
        assert z.hex() == ZSE_C5[suite]["z"]
        hub = _identity(suite, 0xFA11 + suite, bytes.fromhex("000d6f000abc0000"), 3)
        meter = _identity(suite, 0xFA11 + suite, bytes.fromhex("000d6f000abc0001"), 4)
        eh, em = EphemeralKey.generate(suite), EphemeralKey.generate(suite)
        on_hub = establish(hub, eh, partner_certificate=meter.certificate,
                           partner_ephemeral_public_key=em.public_key, am_initiator=False)
        on_meter = establish(meter, em, partner_certificate=hub.certificate,
                             partner_ephemeral_public_key=eh.public_key, am_initiator=True)
        assert on_hub == on_meter
    finally:
        monkeypatch.undo()
        ecc_openssl.for_curve.cache_clear()
        curve._decoded.clear()
    if _openssl(curve) is not None:
        assert establish(hub, eh, partner_certificate=meter.certificate,
                         partner_ephemeral_public_key=em.public_key, am_initiator=False) == on_hub


def test_python_arithmetic_switches_the_fast_path_off_and_back() -> None:
    before = SECT283K1._openssl
    with python_arithmetic():
        assert SECT283K1._openssl is None
        assert ecc_koblitz._openssl_enabled is False
    assert SECT283K1._openssl is before

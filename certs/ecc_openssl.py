"""OpenSSL's scalar products on the CBKE Koblitz curves (sect163k1, sect283k1), for ``certs.ecc_koblitz``.

What is OpenSSL's here: k*G and k*P (``EC_POINT_mul``: a Montgomery ladder in López-Dahab x-only
coordinates with y recovered at the end), the sums of such products (``EC_POINT_add``), and point
decompression (``EC_POINT_oct2point``). On sect283k1 a product costs OpenSSL about 0.3 ms where the
Python tau-adic NAF of ``ecc_koblitz`` costs 3.5 ms, and CBKE does a dozen per key establishment.
Everything else (field arithmetic, encoding, the curve constants, the ECQV/ECMQV formulas) stays Python,
and so does every product when this module is unavailable: ``ecc_koblitz`` is the fallback and, in
tests/certs, the independent referee of every figure OpenSSL gives here.

Why ctypes and not ``cryptography``: cryptography 48 removed the binary curves from its API (its wheels'
OpenSSL still has them, but unreachable), so the field's library cannot name sect283k1 any more. The
OpenSSL that Python's own ``ssl``/``hashlib`` load (libcrypto 1.1.1 or 3.x) still does, unless it was
built without EC2M. Only the stable, non-deprecated EC_GROUP/EC_POINT/BIGNUM functions are used.

Exactness: the ladder reduces scalars modulo the curve's order h*n (not n) before running, so a product
is exact on every point of the curve, also outside G's subgroup; scalars are reduced here modulo h*n
too (exact for the same reason). The ladder gets the few points of order 2 and 4 wrong (x = 0 or 1,
``OpenSslCurve.supports``), so products of those are left to Python; a peer can send one as its key.

Availability is decided once per curve (``for_curve``): Linux only (where the libcrypto is found among
the process's mapped libraries or by its versioned soname; on macOS an unversioned libcrypto aborts the
process when loaded), all symbols present, the curve known to the library, its generator, order and
cofactor the ones ``ecc_koblitz`` holds. Anything else gives None and Python does the arithmetic.
Not constant-time as used here (the test bench's keys only), like ``ecc_koblitz``.
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Sequence
from functools import cache
from pathlib import Path

_P = ctypes.c_void_p
_POINT_CONVERSION_UNCOMPRESSED = 4

# name: (restype, argtypes)
_SIGNATURES: dict[str, tuple[object, list[object]]] = {
    "OBJ_sn2nid": (ctypes.c_int, [ctypes.c_char_p]),
    "EC_GROUP_new_by_curve_name": (_P, [ctypes.c_int]),
    "EC_GROUP_get0_generator": (_P, [_P]),
    "EC_GROUP_get_order": (ctypes.c_int, [_P, _P, _P]),
    "EC_GROUP_get_cofactor": (ctypes.c_int, [_P, _P, _P]),
    "EC_POINT_new": (_P, [_P]),
    "EC_POINT_free": (None, [_P]),
    "EC_POINT_mul": (ctypes.c_int, [_P, _P, _P, _P, _P, _P]),
    "EC_POINT_add": (ctypes.c_int, [_P, _P, _P, _P, _P]),
    "EC_POINT_is_at_infinity": (ctypes.c_int, [_P, _P]),
    "EC_POINT_oct2point": (ctypes.c_int, [_P, _P, ctypes.c_char_p, ctypes.c_size_t, _P]),
    "EC_POINT_point2oct": (ctypes.c_size_t, [_P, _P, ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t, _P]),
    "BN_bin2bn": (_P, [ctypes.c_char_p, ctypes.c_int, _P]),
    "BN_new": (_P, []),
    "BN_free": (None, [_P]),
    "BN_num_bits": (ctypes.c_int, [_P]),
    "BN_bn2binpad": (ctypes.c_int, [_P, ctypes.c_char_p, ctypes.c_int]),
    "ERR_clear_error": (None, []),
}

Affine = tuple[int, int] | None


class OpenSslError(ArithmeticError):
    """libcrypto refused an operation that cannot fail on good input (a bug, not bad data)."""


class OpenSslCurve:
    """One Koblitz curve's products in libcrypto; points in and out as affine (x, y) ints like
    ``ecc_koblitz``, None for the point at infinity."""

    def __init__(self, lib: ctypes.CDLL, group: int, field_bytes: int, curve_order: int) -> None:
        self._lib = lib
        self._group = group
        self._field_bytes = field_bytes
        self._curve_order = curve_order          # h * n: every point's order divides it

    # --- conversions ---------------------------------------------------------------------------------
    def _bignum(self, k: int) -> int:
        raw = k.to_bytes((k.bit_length() + 7) // 8 or 1, "big")
        bn = self._lib.BN_bin2bn(raw, len(raw), None)
        if not bn:
            raise MemoryError("BN_bin2bn")
        return bn

    def _point(self, point: tuple[int, int]) -> int:
        """An EC_POINT from affine ints (through the uncompressed octets, which OpenSSL checks lie on
        the curve)."""
        size = self._field_bytes
        raw = b"\x04" + point[0].to_bytes(size, "big") + point[1].to_bytes(size, "big")
        p = self._new_point()
        if self._lib.EC_POINT_oct2point(self._group, p, raw, len(raw), None) != 1:
            self._lib.EC_POINT_free(p)
            self._lib.ERR_clear_error()
            raise ValueError(f"({point[0]:#x}, {point[1]:#x}) is not a point of the curve")
        return p

    def _affine(self, p: int) -> Affine:
        lib = self._lib
        if lib.EC_POINT_is_at_infinity(self._group, p):
            return None
        size = self._field_bytes
        buf = ctypes.create_string_buffer(1 + 2 * size)
        if lib.EC_POINT_point2oct(self._group, p, _POINT_CONVERSION_UNCOMPRESSED, buf, len(buf), None) \
                != len(buf):
            lib.ERR_clear_error()
            raise OpenSslError("EC_POINT_point2oct failed")
        raw = buf.raw
        return int.from_bytes(raw[1:1 + size], "big"), int.from_bytes(raw[1 + size:], "big")

    def _new_point(self) -> int:
        p = self._lib.EC_POINT_new(self._group)
        if not p:
            raise MemoryError("EC_POINT_new")
        return p

    def _mul(self, result: int, g_scalar: int | None, point: int | None, p_scalar: int | None) -> None:
        lib = self._lib
        g_bn = self._bignum(g_scalar) if g_scalar is not None else None
        p_bn = self._bignum(p_scalar) if p_scalar is not None else None
        try:
            ok = lib.EC_POINT_mul(self._group, result, g_bn, point, p_bn, None)
        finally:
            for bn in (g_bn, p_bn):
                if bn:
                    lib.BN_free(bn)
        if ok != 1:
            lib.ERR_clear_error()
            raise OpenSslError("EC_POINT_mul failed")

    # --- products -------------------------------------------------------------------------------------
    def multiply_generator(self, k: int) -> Affine:
        """k * G for 0 < k < n (the caller reduces k modulo n)."""
        result = self._new_point()
        try:
            self._mul(result, k, None, None)
            return self._affine(result)
        finally:
            self._lib.EC_POINT_free(result)

    def multi_multiply(self, terms: Sequence[tuple[int, tuple[int, int]]]) -> Affine:
        """sum(k_i * P_i): one ladder per term, summed in OpenSSL. Points must lie on the curve and pass
        ``supports``; scalars may be any integers (reduced modulo h*n, exact for every point)."""
        lib, group = self._lib, self._group
        handles: list[int] = []
        try:
            total = self._new_point()
            handles.append(total)
            product = self._new_point()
            handles.append(product)
            first = True
            for k, point in terms:
                k %= self._curve_order
                if not k:
                    continue
                p = self._point(point)
                handles.append(p)
                self._mul(total if first else product, None, p, k)
                if not first and lib.EC_POINT_add(group, total, total, product, None) != 1:
                    lib.ERR_clear_error()
                    raise OpenSslError("EC_POINT_add failed")
                first = False
            return None if first else self._affine(total)
        finally:
            for handle in handles:
                lib.EC_POINT_free(handle)

    @staticmethod
    def supports(point: tuple[int, int]) -> bool:
        """Whether OpenSSL's ladder multiplies this point exactly: not one of the points of order 2 or 4.
        Those are the points with x = 0 or x = 1 (x(2P) = x^2 + 1/x^2 is 0 only at x = 1), and the
        ladder fails on them: its y recovery divides by x(P), and on sect283k1 it returns (1, 0) for
        3 * (1, 0) = (1, 1) (tests/certs/test_cbke_openssl.py). Points of large order, with or without
        a part of order 2 or 4, multiply exactly for every scalar tried."""
        return point[0] > 1

    def decompress(self, data: bytes) -> Affine:
        """The point of a compressed encoding (0x02/0x03 | x), or None when no point has that x. The
        caller checks length, prefix and x's size first, and keeps x = 0 (OpenSSL's y bit rule differs)."""
        p = self._new_point()
        try:
            if self._lib.EC_POINT_oct2point(self._group, p, data, len(data), None) != 1:
                self._lib.ERR_clear_error()
                return None
            return self._affine(p)
        finally:
            self._lib.EC_POINT_free(p)


def _libcrypto() -> ctypes.CDLL | None:
    """The libcrypto this Python process already uses for ssl/hashlib (Linux), with our signatures."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import _hashlib  # noqa: F401  (maps Python's own libcrypto into the process, if it has one)
    except ImportError:
        pass

    candidates: list[str] = []
    try:
        for line in Path("/proc/self/maps").read_text().splitlines():
            path = line.split()[-1]
            if "/libcrypto.so" in path and path not in candidates:
                candidates.append(path)
    except OSError:
        pass
    candidates += ["libcrypto.so.3", "libcrypto.so.1.1"]
    for name in candidates:
        try:
            lib = ctypes.CDLL(name)
            for symbol, (restype, argtypes) in _SIGNATURES.items():
                function = getattr(lib, symbol)
                function.restype = restype
                function.argtypes = argtypes
        except (OSError, AttributeError):
            continue
        return lib
    return None


@cache
def _shared_libcrypto() -> ctypes.CDLL | None:
    return _libcrypto()


@cache
def for_curve(name: str, generator: tuple[int, int], order: int, cofactor: int,
              field_bytes: int) -> OpenSslCurve | None:
    """OpenSSL's arithmetic on the named curve if the process's libcrypto has it and agrees on its
    generator, order and cofactor; None otherwise (decided once per curve)."""
    lib = _shared_libcrypto()
    if lib is None:
        return None
    nid = lib.OBJ_sn2nid(name.encode())
    group = lib.EC_GROUP_new_by_curve_name(nid) if nid else None   # NULL when built without EC2M
    if not group:
        lib.ERR_clear_error()
        return None
    curve = OpenSslCurve(lib, group, field_bytes, order * cofactor)
    if _group_number(lib, group, lib.EC_GROUP_get_order) != order \
            or _group_number(lib, group, lib.EC_GROUP_get_cofactor) != cofactor:
        return None
    if curve._affine(lib.EC_GROUP_get0_generator(group)) != generator:
        return None
    return curve


def _group_number(lib: ctypes.CDLL, group: int, getter) -> int | None:
    bn = lib.BN_new()
    try:
        if not bn or getter(group, bn, None) != 1:
            lib.ERR_clear_error()
            return None
        size = (lib.BN_num_bits(bn) + 7) // 8
        buf = ctypes.create_string_buffer(size)
        lib.BN_bn2binpad(bn, buf, size)
        return int.from_bytes(buf.raw, "big")
    finally:
        if bn:
            lib.BN_free(bn)

"""Elliptic-curve arithmetic on the two Koblitz curves Zigbee Smart Energy CBKE uses: sect163k1 (crypto
suite 1) and sect283k1 (crypto suite 2), SEC 2 v2 §3.1.

Why our own: ``cryptography`` (48) dropped the binary curves and no maintained pure-Python library does
GF(2^m) curves, so this module is the small, tested one the key establishment needs. It is checked
against OpenSSL-derived keys and shared secrets and the Certicom test certificates (tests/certs).

How it is fast enough in Python (bench/cbke.py): field elements are ints (bit i = coefficient of x^i);
a product is a 4-bit comb over the multiplier's hex digits followed by a sparse-pentanomial reduction,
a square spreads bits with two ``bytes.translate`` tables. Points run in Lopez-Dahab projective
coordinates (no inversion per step), variable-base products use interleaved width-4 NAFs sharing one
doubling chain, and the generator has a precomputed fixed-base table (no doubling at all).

Not constant-time: this serves a test bench (simulated devices and a virtual NCP), never a product key.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

Affine = tuple[int, int] | None           # None is the point at infinity
_LdPoint = tuple[int, int, int]           # Lopez-Dahab (X, Y, Z): x = X/Z, y = Y/Z^2; Z == 0 is infinity
_INFINITY: _LdPoint = (1, 0, 0)

_HEX_DIGIT = [0] * 256
for _i, _c in enumerate(b"0123456789abcdef"):
    _HEX_DIGIT[_c] = _i
# Squaring in GF(2)[x] interleaves a zero after every bit: spread each nibble of a byte into a byte.
_SPREAD_HIGH_NIBBLE = bytes(int(format(i >> 4, "04b"), 4) for i in range(256))
_SPREAD_LOW_NIBBLE = bytes(int(format(i & 15, "04b"), 4) for i in range(256))


class InvalidPoint(ValueError):
    """Bytes that are not a point of the curve (bad prefix, length, or no y for that x)."""


@dataclass(frozen=True)
class KoblitzCurve:
    """y^2 + xy = x^3 + a*x^2 + 1 over GF(2^m) with a pentanomial reduction polynomial."""

    name: str
    m: int
    reduction_terms: tuple[int, ...]       # the exponents of f(x) below x^m, without the 1
    a: int
    gx: int
    gy: int
    n: int
    cofactor: int
    _mask: int = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_mask", (1 << self.m) - 1)

    # --- sizes --------------------------------------------------------------------------------------
    @property
    def field_bytes(self) -> int:
        return (self.m + 7) // 8

    @property
    def scalar_bytes(self) -> int:
        return (self.n.bit_length() + 7) // 8

    @property
    def compressed_length(self) -> int:
        return 1 + self.field_bytes

    @property
    def generator(self) -> tuple[int, int]:
        return (self.gx, self.gy)

    # --- GF(2^m) --------------------------------------------------------------------------------------
    def reduce(self, c: int) -> int:
        m, mask, terms = self.m, self._mask, self.reduction_terms
        high = c >> m
        while high:
            c &= mask
            c ^= high
            for k in terms:
                c ^= high << k
            high = c >> m
        return c

    def mul(self, a: int, b: int) -> int:
        """a*b mod f: a 4-bit left-to-right comb over b's hex digits (one table of 16 multiples of a)."""
        t2 = a << 1
        t4 = a << 2
        t6 = t4 ^ t2
        t8 = a << 3
        table = (0, a, t2, t2 ^ a, t4, t4 ^ a, t6, t6 ^ a,
                 t8, t8 ^ a, t8 ^ t2, t8 ^ t2 ^ a, t8 ^ t4, t8 ^ t4 ^ a, t8 ^ t6, t8 ^ t6 ^ a)
        r = 0
        for digit in b"%x" % b:
            r = (r << 4) ^ table[_HEX_DIGIT[digit]]
        return self.reduce(r)

    def sqr(self, a: int) -> int:
        raw = a.to_bytes(self.field_bytes, "big")
        spread = bytearray(2 * len(raw))
        spread[0::2] = raw.translate(_SPREAD_HIGH_NIBBLE)
        spread[1::2] = raw.translate(_SPREAD_LOW_NIBBLE)
        return self.reduce(int.from_bytes(spread, "big"))

    def inv(self, a: int) -> int:
        """Inverse by the binary-polynomial extended Euclidean algorithm (Hankerson et al. Alg. 2.48)."""
        if a == 0:
            raise ZeroDivisionError("0 has no inverse in GF(2^m)")
        u, v = a, self.polynomial
        g1, g2 = 1, 0
        while u != 1:
            j = u.bit_length() - v.bit_length()
            if j < 0:
                u, v, g1, g2, j = v, u, g2, g1, -j
            u ^= v << j
            g1 ^= g2 << j
        return g1

    @cached_property
    def polynomial(self) -> int:
        f = (1 << self.m) | 1
        for k in self.reduction_terms:
            f |= 1 << k
        return f

    def trace(self, c: int) -> int:
        t, s = c, c
        for _ in range(self.m - 1):
            s = self.sqr(s)
            t ^= s
        return t & 1

    def half_trace(self, c: int) -> int:
        """A solution z of z^2 + z = c when Tr(c) == 0 (m is odd for both curves)."""
        z, s = c, c
        for _ in range((self.m - 1) // 2):
            s = self.sqr(self.sqr(s))
            z ^= s
        return z

    # --- affine points ------------------------------------------------------------------------------
    def is_on_curve(self, point: Affine) -> bool:
        if point is None:
            return True
        x, y = point
        if x >> self.m or y >> self.m:
            return False
        x2 = self.sqr(x)
        lhs = self.sqr(y) ^ self.mul(x, y)
        rhs = self.mul(x2, x) ^ (x2 if self.a else 0) ^ 1
        return lhs == rhs

    def negate(self, point: Affine) -> Affine:
        return None if point is None else (point[0], point[0] ^ point[1])

    def add(self, p: Affine, q: Affine) -> Affine:
        """Affine addition (one inversion); for the occasional sum, not for scalar products."""
        if p is None:
            return q
        if q is None:
            return p
        (x1, y1), (x2, y2) = p, q
        if x1 == x2:
            if y1 != y2 or x1 == 0:
                return None
            lam = x1 ^ self.mul(y1, self.inv(x1))
            x3 = self.sqr(lam) ^ lam ^ self.a
            return x3, self.sqr(x1) ^ self.mul(lam ^ 1, x3)
        lam = self.mul(y1 ^ y2, self.inv(x1 ^ x2))
        x3 = self.sqr(lam) ^ lam ^ x1 ^ x2 ^ self.a
        return x3, self.mul(lam, x1 ^ x3) ^ x3 ^ y1

    # --- encodings (SEC 1 v2 §2.3.3/§2.3.4, compressed form) ----------------------------------------
    def encode(self, point: Affine) -> bytes:
        if point is None:
            raise InvalidPoint("the point at infinity has no compressed encoding")
        x, y = point
        y_bit = 0 if x == 0 else self.mul(y, self.inv(x)) & 1
        return bytes([2 | y_bit]) + x.to_bytes(self.field_bytes, "big")

    def decode(self, data: bytes) -> tuple[int, int]:
        if len(data) != self.compressed_length:
            raise InvalidPoint(f"{len(data)} bytes, a compressed {self.name} point is "
                               f"{self.compressed_length}")
        if data[0] not in (2, 3):
            raise InvalidPoint(f"prefix 0x{data[0]:02x}, a compressed point starts 0x02 or 0x03")
        x = int.from_bytes(data[1:], "big")
        if x >> self.m:
            raise InvalidPoint(f"x has more than {self.m} bits")
        if x == 0:
            return (0, 1)                   # y^2 = b = 1
        beta = x ^ self.a ^ self.sqr(self.inv(x))
        z = self.half_trace(beta)
        if self.sqr(z) ^ z != beta:
            raise InvalidPoint(f"no point of {self.name} has this x")
        if (z & 1) != (data[0] & 1):
            z ^= 1
        return x, self.mul(x, z)

    # --- Lopez-Dahab projective arithmetic (Hankerson, Menezes, Vanstone, Alg. 3.24/3.25) -----------
    def _double(self, p: _LdPoint) -> _LdPoint:
        x1, y1, z1 = p
        if z1 == 0:
            return p
        sqr, mul = self.sqr, self.mul
        z1_2 = sqr(z1)
        x1_2 = sqr(x1)
        z3 = mul(z1_2, x1_2)
        z1_4 = sqr(z1_2)
        x3 = sqr(x1_2) ^ z1_4           # b = 1
        t = sqr(y1) ^ z1_4
        if self.a:
            t ^= z3
        return x3, mul(x3, t) ^ mul(z1_4, z3), z3

    def _add_affine(self, p: _LdPoint, q: tuple[int, int]) -> _LdPoint:
        x1, y1, z1 = p
        x2, y2 = q
        if z1 == 0:
            return x2, y2, 1
        sqr, mul = self.sqr, self.mul
        z1_2 = sqr(z1)
        b = x1 ^ mul(z1, x2)
        a = y1 ^ mul(z1_2, y2)
        if b == 0:
            return self._double((x2, y2, 1)) if a == 0 else _INFINITY
        c = mul(z1, b)
        z3 = sqr(c)
        e = mul(a, c)
        d = mul(sqr(b), c ^ z1_2 if self.a else c)
        x3 = sqr(a) ^ d ^ e
        f = x3 ^ mul(x2, z3)
        g = mul(x2 ^ y2, sqr(z3))
        return x3, mul(e ^ z3, f) ^ g, z3

    def _to_affine(self, p: _LdPoint) -> Affine:
        x, y, z = p
        if z == 0:
            return None
        zi = self.inv(z)
        return self.mul(x, zi), self.mul(y, self.sqr(zi))

    def _batch_to_affine(self, points: Sequence[_LdPoint]) -> list[Affine]:
        """Many points to affine with one inversion (Montgomery's simultaneous-inversion trick)."""
        finite = [p for p in points if p[2]]
        prefix = [1]
        for _x, _y, z in finite:
            prefix.append(self.mul(prefix[-1], z))
        acc = self.inv(prefix[-1]) if finite else 1
        inverses = [0] * len(finite)
        for i in range(len(finite) - 1, -1, -1):
            inverses[i] = self.mul(acc, prefix[i])
            acc = self.mul(acc, finite[i][2])
        out: list[Affine] = []
        it = iter(zip(finite, inverses))
        for p in points:
            if p[2] == 0:
                out.append(None)
                continue
            (x, y, _), zi = next(it)
            out.append((self.mul(x, zi), self.mul(y, self.sqr(zi))))
        return out

    # --- scalar products ------------------------------------------------------------------------------
    def multiply(self, k: int, point: Affine) -> Affine:
        return self.multi_multiply([(k, point)])

    def multi_multiply(self, terms: Sequence[tuple[int, Affine]]) -> Affine:
        """sum(k_i * P_i): interleaved width-4 NAFs, one shared chain of doublings (Straus-Shamir)."""
        terms = [(k, p) for k, p in terms if k and p is not None]
        if not terms:
            return None
        odd_tables: list[list[tuple[int, int]]] = []
        nafs = []
        for k, p in terms:
            if k < 0:
                k, p = -k, self.negate(p)
            odd_tables.append(self._odd_multiples(p))
            nafs.append(_wnaf(k, 4))
        acc = _INFINITY
        for i in range(max(len(d) for d in nafs) - 1, -1, -1):
            acc = self._double(acc)
            for digits, table in zip(nafs, odd_tables):
                if i < len(digits) and (d := digits[i]):
                    q = table[abs(d) >> 1]
                    acc = self._add_affine(acc, q if d > 0 else (q[0], q[0] ^ q[1]))
        return self._to_affine(acc)

    def _odd_multiples(self, p: tuple[int, int]) -> list[tuple[int, int]]:
        """P, 3P, 5P, 7P in affine (the width-4 NAF digits' table)."""
        two_p = self._double((p[0], p[1], 1))
        two_p_affine = self._to_affine(two_p)
        if two_p_affine is None:            # P of order 2: only P itself is needed
            return [p] * 4
        ld = [(p[0], p[1], 1)]
        for _ in range(3):
            ld.append(self._add_affine(ld[-1], two_p_affine))
        affine = self._batch_to_affine(ld)
        return [q if q is not None else p for q in affine]  # a multiple at infinity never gets used

    @cached_property
    def _generator_windows(self) -> list[list[Affine]]:
        """j * 16^i * G for every 4-bit window i of a scalar and j = 1..15, all affine."""
        windows = (self.n.bit_length() + 3) // 4
        ld: list[_LdPoint] = []
        base: _LdPoint = (self.gx, self.gy, 1)
        for _ in range(windows):
            base_affine = self._to_affine(base)
            row = [base]
            for _ in range(14):
                row.append(self._add_affine(row[-1], base_affine))
            ld.extend(row)
            for _ in range(4):
                base = self._double(base)
        flat = self._batch_to_affine(ld)
        return [flat[i:i + 15] for i in range(0, len(flat), 15)]

    def multiply_generator(self, k: int) -> Affine:
        """k * G from the fixed-base table: one mixed addition per non-zero hex digit of k mod n."""
        k %= self.n
        acc = _INFINITY
        windows = self._generator_windows
        for i, digit in enumerate(reversed(b"%x" % k)):
            j = _HEX_DIGIT[digit]
            if j:
                point = windows[i][j - 1]
                if point is not None:
                    acc = self._add_affine(acc, point)
        return self._to_affine(acc)

    # --- keys -------------------------------------------------------------------------------------------
    def random_scalar(self) -> int:
        return 1 + secrets.randbelow(self.n - 1)

    def public_key(self, private_key: int) -> bytes:
        return self.encode(self.multiply_generator(private_key))

    def scalar_to_bytes(self, k: int) -> bytes:
        return k.to_bytes(self.field_bytes, "big")


def _wnaf(k: int, width: int) -> list[int]:
    """Width-w non-adjacent form, least significant digit first; digits odd and |d| < 2^(w-1)."""
    digits: list[int] = []
    modulus, half = 1 << width, 1 << (width - 1)
    while k:
        if k & 1:
            d = k & (modulus - 1)
            if d >= half:
                d -= modulus
            k -= d
        else:
            d = 0
        digits.append(d)
        k >>= 1
    return digits


SECT163K1 = KoblitzCurve(
    name="sect163k1", m=163, reduction_terms=(7, 6, 3), a=1,
    gx=0x02FE13C0537BBC11ACAA07D793DE4E6D5E5C94EEE8,
    gy=0x0289070FB05D38FF58321F2E800536D538CCDAA3D9,
    n=0x04000000000000000000020108A2E0CC0D99F8A5EF, cofactor=2)

SECT283K1 = KoblitzCurve(
    name="sect283k1", m=283, reduction_terms=(12, 7, 5), a=0,
    gx=0x0503213F78CA44883F1A3B8162F188E553CD265F23C1567A16876913B0C2AC2458492836,
    gy=0x01CCDA380F1C9E318D90F95D07E5426FE87E45C0E8184698E45962364E34116177DD2259,
    n=0x01FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFE9AE2ED07577265DFF7F94451E061E163C61, cofactor=4)

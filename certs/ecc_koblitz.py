"""Elliptic-curve arithmetic on the two Koblitz curves Zigbee Smart Energy CBKE uses: sect163k1 (crypto
suite 1) and sect283k1 (crypto suite 2), SEC 2 v2 §3.1.

What is OpenSSL's and what is Python's: the scalar products (k*G, sums of k_i*P_i) and point
decompression go to OpenSSL's libcrypto through ``certs.ecc_openssl`` when the process's libcrypto has
the binary curves (about ten times faster: a product on sect283k1 is 0.3 ms there, 3.5 ms here), except
products of the few points of order 2 and 4, which OpenSSL's ladder gets wrong. Everything else is
Python: the field, affine addition, encoding, the curve constants, and the whole arithmetic wherever
libcrypto lacks the curves (``python_arithmetic`` forces that, for the bench and the tests).

Why our own Python at all: ``cryptography`` (48) dropped the binary curves and no maintained pure-Python
library does GF(2^m) curves, so this module is the small, tested fallback the key establishment needs,
and the independent referee the OpenSSL path is held to (tests/certs/test_cbke_openssl.py). It is
checked against OpenSSL-derived keys and shared secrets and the Certicom test certificates (tests/certs).

How the Python is fast enough as a fallback (bench/cbke.py): field elements are ints (bit i = coefficient
of x^i); a product is a 4-bit comb over the multiplier's hex digits followed by a sparse-pentanomial
reduction, a square spreads bits with two ``bytes.translate`` tables. Points run in Lopez-Dahab
projective coordinates (no inversion per step). Scalar products use the Koblitz curves' Frobenius map
instead of doublings: the scalar is reduced modulo tau^m - 1 in Z[tau] and written as a width-5 tau-adic
NAF, and several products share one chain of Frobenius maps (three squarings each). The generator's digit
multiples are computed once per curve (a handful of points, no big fixed-base table to build).

Not constant-time: this serves a test bench (simulated devices and a virtual NCP), never a product key.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property

from . import ecc_openssl

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

    @cached_property
    def _decoded(self) -> dict[bytes, tuple[int, int]]:
        return {}

    def decode(self, data: bytes) -> tuple[int, int]:
        """The point of a compressed encoding. Decoding costs an inversion and a half-trace (~0.5 ms on
        sect283k1) and key establishment decodes the same few keys again and again (the CA's, both
        ephemeral keys on both sides), so good points are remembered by their octets."""
        data = bytes(data)
        point = self._decoded.get(data)
        if point is None:
            point = self._decode_uncached(data)
            if len(self._decoded) >= _DECODED_MAX:
                self._decoded.clear()
            self._decoded[data] = point
        return point

    def _decode_uncached(self, data: bytes) -> tuple[int, int]:
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
        openssl = self._openssl
        if openssl is not None:
            point = openssl.decompress(data)
            if point is None:
                raise InvalidPoint(f"no point of {self.name} has this x")
            return point
        return self._python_decompress(x, data[0] & 1)

    def _python_decompress(self, x: int, y_bit: int) -> tuple[int, int]:
        """SEC 1 §2.3.4 for x != 0: z with z^2 + z = x + a + 1/x^2, y = x*z, z's low bit = y_bit."""
        beta = x ^ self.a ^ self.sqr(self.inv(x))
        z = self.half_trace(beta)
        if self.sqr(z) ^ z != beta:
            raise InvalidPoint(f"no point of {self.name} has this x")
        if (z & 1) != y_bit:
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

    # --- scalar products: width-w tau-adic NAF (Solinas; Hankerson, Menezes, Vanstone §3.4) --------------
    # On a Koblitz curve the Frobenius map tau(x, y) = (x^2, y^2) satisfies tau^2 - mu*tau + 2 = 0 with
    # mu = (-1)^(1-a), so a scalar written in powers of tau needs three squarings per position where a
    # binary one needs a point doubling (four products and five squarings). tau^m is the identity on
    # every point of E(GF(2^m)), so reducing k modulo tau^m - 1 in Z[tau] is exact for any point (no
    # subgroup assumption) and leaves a representation about m digits long.
    @cached_property
    def _mu(self) -> int:
        return 1 if self.a else -1

    def _tau_times(self, r0: int, r1: int) -> tuple[int, int]:
        """(r0 + r1 tau) * tau = -2 r1 + (r0 + mu r1) tau."""
        return -2 * r1, r0 + self._mu * r1

    @cached_property
    def _tau_m_minus_1(self) -> tuple[int, int, int]:
        """tau^m - 1 as (d0, d1) in Z[tau], and its norm (the curve's order h*n, checked)."""
        t0, t1 = self._tau_power(self.m)
        d0, d1 = t0 - 1, t1
        norm = self._norm(d0, d1)
        if norm != self.cofactor * self.n:
            raise ArithmeticError(f"{self.name}: N(tau^m - 1) = {norm}, not h*n")
        return d0, d1, norm

    def _reduce_scalar(self, k: int) -> tuple[int, int]:
        """rho = k mod (tau^m - 1) in Z[tau], rounded to the nearest quotient (norm at most h*n)."""
        return self._round_mod(k, *self._tau_m_minus_1)

    def _tau_power(self, count: int) -> tuple[int, int]:
        """tau^count as (r0, r1) in Z[tau]."""
        r0, r1 = 1, 0
        for _ in range(count):
            r0, r1 = self._tau_times(r0, r1)
        return r0, r1

    def _norm(self, r0: int, r1: int) -> int:
        """N(r0 + r1 tau) = r0^2 + mu r0 r1 + 2 r1^2."""
        return r0 * r0 + self._mu * r0 * r1 + 2 * r1 * r1

    def _round_mod(self, k: int, d0: int, d1: int, norm: int) -> tuple[int, int]:
        """k mod (d0 + d1 tau) in Z[tau] for the nearest quotient; ``norm`` is N(d0 + d1 tau)."""
        mu = self._mu
        # k / delta = k * conj(delta) / N(delta), conj(d0 + d1 tau) = (d0 + mu d1) - d1 tau
        q0 = _round_div(k * (d0 + mu * d1), norm)
        q1 = _round_div(-k * d1, norm)
        # rho = k - (q0 + q1 tau)(d0 + d1 tau), with tau^2 = mu tau - 2
        return k - (q0 * d0 - 2 * q1 * d1), -(q0 * d1 + q1 * d0 + mu * q1 * d1)

    @cached_property
    def _tnaf_constants(self) -> tuple[int, list[tuple[int, int]]]:
        """For width _TNAF_WIDTH: t_w (tau's image in Z/2^w) and alpha_u = u mods tau^w for odd u."""
        w, mu = _TNAF_WIDTH, self._mu
        u_prev, u_cur = 0, 1                          # Lucas sequence U_0, U_1; U_{k+1} = mu U_k - 2 U_{k-1}
        for _ in range(w - 1):
            u_prev, u_cur = u_cur, mu * u_cur - 2 * u_prev
        t_w = 2 * u_prev * pow(u_cur, -1, 1 << w) % (1 << w)
        p0, p1 = self._tau_power(w)
        norm = self._norm(p0, p1)                     # 2^w
        return t_w, [self._round_mod(u, p0, p1, norm) for u in range(1, 1 << (w - 1), 2)]

    def _tnaf(self, k: int) -> list[int]:
        """Width-w tau-adic NAF of k mod (tau^m - 1), least significant first (Alg. 3.69). A digit
        +-u stands for +-alpha_u; every non-zero digit is followed by at least w-1 zeros."""
        t_w, alphas = self._tnaf_constants
        modulus, half, mu = 1 << _TNAF_WIDTH, 1 << (_TNAF_WIDTH - 1), self._mu
        r0, r1 = self._reduce_scalar(k)
        digits: list[int] = []
        while r0 or r1:
            if r0 & 1:
                u = (r0 + r1 * t_w) & (modulus - 1)
                if u >= half:
                    u -= modulus
                beta, gamma = alphas[abs(u) >> 1]
                if u > 0:
                    r0, r1 = r0 - beta, r1 - gamma
                else:
                    r0, r1 = r0 + beta, r1 + gamma
                digits.append(u)
            else:
                digits.append(0)
            r0, r1 = r1 + mu * (r0 >> 1), -(r0 >> 1)   # divide by tau (r0 is even here)
        return digits

    def _frobenius(self, p: _LdPoint) -> _LdPoint:
        sqr = self.sqr
        return sqr(p[0]), sqr(p[1]), sqr(p[2])

    def _alpha_multiples(self, p: tuple[int, int]) -> list[Affine]:
        """alpha_u * P in affine for the odd u of the width-w tau-NAF digits (P, alpha_3 P, ...)."""
        _t_w, alphas = self._tnaf_constants
        ld: list[_LdPoint] = []
        neg_p = (p[0], p[0] ^ p[1])
        for beta, gamma in alphas:
            # alpha = beta + gamma tau, small: evaluate its plain width-2 tau-NAF by Horner's rule
            acc = _INFINITY
            for d in reversed(_tnaf2(beta, gamma, self._mu)):
                acc = self._frobenius(acc)
                if d:
                    acc = self._add_affine(acc, p if d > 0 else neg_p)
            ld.append(acc)
        # a multiple can be the point at infinity when P has a small-order part (alpha_5 = tau - 1 on a
        # point of order 2), so the table keeps None for it and the sum skips such digits
        return self._batch_to_affine(ld)

    def multiply(self, k: int, point: Affine) -> Affine:
        return self.multi_multiply([(k, point)])

    def multi_multiply(self, terms: Sequence[tuple[int, Affine]]) -> Affine:
        """sum(k_i * P_i), by OpenSSL when it has the curve (``certs.ecc_openssl``), else in Python."""
        finite = [(k, p) for k, p in terms if k and p is not None]
        if not finite:
            return None
        openssl = self._openssl
        if openssl is not None and all(openssl.supports(p) for _k, p in finite):
            return openssl.multi_multiply(finite)
        return self.python_multi_multiply(finite)

    def python_multi_multiply(self, terms: Sequence[tuple[int, Affine]]) -> Affine:
        """sum(k_i * P_i) in Python: interleaved width-w tau-NAFs sharing one chain of Frobenius maps."""
        terms = [(k, p) for k, p in terms if k and p is not None]
        if not terms:
            return None
        return self._interleave([(self._tnaf(k), self._alpha_multiples(p)) for k, p in terms])

    def _interleave(self, expansions: Sequence[tuple[list[int], list[Affine]]]) -> Affine:
        acc = _INFINITY
        for i in range(max(len(d) for d, _ in expansions) - 1, -1, -1):
            if acc[2]:
                acc = self._frobenius(acc)
            for digits, table in expansions:
                if i < len(digits) and (d := digits[i]) and (q := table[abs(d) >> 1]) is not None:
                    acc = self._add_affine(acc, q if d > 0 else (q[0], q[0] ^ q[1]))
        return self._to_affine(acc)

    @cached_property
    def _generator_multiples(self) -> list[Affine]:
        return self._alpha_multiples((self.gx, self.gy))

    def multiply_generator(self, k: int) -> Affine:
        """k * G, by OpenSSL when it has the curve, else in Python."""
        k %= self.n
        if not k:
            return None
        openssl = self._openssl
        if openssl is not None:
            return openssl.multiply_generator(k)
        return self.python_multiply_generator(k)

    def python_multiply_generator(self, k: int) -> Affine:
        """k * G in Python, with G's alpha_u multiples computed once per curve."""
        k %= self.n
        if not k:
            return None
        return self._interleave([(self._tnaf(k), self._generator_multiples)])

    @property
    def _openssl(self) -> ecc_openssl.OpenSslCurve | None:
        if not _openssl_enabled:
            return None
        return ecc_openssl.for_curve(self.name, self.generator, self.n, self.cofactor, self.field_bytes)

    # --- keys -------------------------------------------------------------------------------------------
    def random_scalar(self) -> int:
        return 1 + secrets.randbelow(self.n - 1)

    def public_key(self, private_key: int) -> bytes:
        return self.encode(self.multiply_generator(private_key))

    def scalar_to_bytes(self, k: int) -> bytes:
        return k.to_bytes(self.field_bytes, "big")


_TNAF_WIDTH = 5
_DECODED_MAX = 1024  # remembered point encodings per curve
_openssl_enabled = True


@contextmanager
def python_arithmetic() -> Iterator[None]:
    """Inside, every product and decompression runs in Python as if libcrypto lacked the curves (the
    bench's comparison and the tests' forced fallback). Remembered decodings stay: they are the same
    points either way."""
    global _openssl_enabled
    previous, _openssl_enabled = _openssl_enabled, False
    try:
        yield
    finally:
        _openssl_enabled = previous


def _round_div(a: int, b: int) -> int:
    """a / b rounded to the nearest integer (b > 0)."""
    return (2 * a + b) // (2 * b)


def _tnaf2(r0: int, r1: int, mu: int) -> list[int]:
    """Plain tau-adic NAF of r0 + r1 tau (digits -1, 0, 1; Alg. 3.61), least significant first."""
    digits: list[int] = []
    while r0 or r1:
        if r0 & 1:
            d = 2 - ((r0 - 2 * r1) & 3)
            r0 -= d
        else:
            d = 0
        digits.append(d)
        r0, r1 = r1 + mu * (r0 >> 1), -(r0 >> 1)
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

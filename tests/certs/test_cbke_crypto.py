"""CBKE crypto (certs.ecc_koblitz, certs.cbke): every figure here comes from outside hanrig.

Sources:
* OPENSSL: keys and ECDH shared secrets made with OpenSSL 3 (``openssl ecparam -name sect163k1|sect283k1
  -genkey``, ``openssl ec -text``, ``openssl pkeyutl -derive``): checks scalar products on both curves.
* CERTICOM: the Certicom test-CA certificates (CA public key, implicit certificate, private key
  reconstruction data, device public key) quoted in zsmartsystems/com.zsmartsystems.zigbee,
  ``CerticomCbkeCertificateTest.java``: checks ECQV reconstruction (e = AES-MMO of the certificate).
* ZIGBEE_C5: the AES-MMO hash test vectors of the Zigbee specification 05-3474-21, annex C.5.1-C.5.4
  (also quoted by andrebdo/c-crumbs ``tests/aes-mmo.c``); C.5.3/C.5.4 straddle the 2^16-bit length where
  the padding switches to a 32-bit length.
* ZIGBEE_C6: the keyed-hash (HMAC over AES-MMO) test vectors of the same specification, annex C.6.1 and
  C.6.2 (quoted by several open-source Zigbee stacks' tests): the MAC that makes MACU/MACV.
* X963: ``cryptography``'s X963KDF and HMAC (OpenSSL) on SHA-256 check the KDF and MAC constructions
  hanrig instantiates with AES-MMO (same code, another hash).
* OPENSSL_MQV: ECMQV (SEC 1 v2 §3.4) checked from the private side: Z = x(h s_U (r_V + v-bar d_V) G),
  the point computed by OpenSSL from that scalar, against hanrig's product of the public values.

* ZSE_C5: the Key Establishment test data of the Zigbee Smart Energy specification (07-5356 annex C.5:
  C.5.1 CA public key and initiator/responder certificates and keys, C.5.2.3 ephemeral data, C.5.3.4.3
  shared secret, MacKey and MACV), as quoted by DSR's ZBOSS ECC library tests in
  patrick112345678/RT581 ``components/network/zigbee/zboss/tests/inactive_kernel_features/zbse/
  zb_ecc_lib_test/zb_ecc_lib_test_async.c`` (suite 1: certificates, static and ephemeral keys, Z, MacKey,
  MACV) and ``zb_ecc_lib_test_async_2.c`` (suite 2: certificates, static and ephemeral keys, Z). The
  source gives neither MACU nor KeyData, nor suite 2's MacKey and MACs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import subprocess

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF

from certs import MalformedCertificate
from certs.cbke import (
    SUITES,
    CbkeIdentity,
    EphemeralKey,
    certificate_hash,
    ecmqv_shared_secret,
    establish,
    hmac,
    issue_implicit_certificate,
    kdf,
    mmo_hmac,
    parse_implicit_certificate,
    reconstruct_public_key,
    x963_kdf,
)
from certs.ecc_koblitz import SECT163K1, SECT283K1, InvalidPoint
from ota.signing import aes_mmo_hash

OPENSSL = {
    "sect163k1": dict(
        private=0x002B62A6966844404158D15F145AE5660FEEAE94BC,
        public="04033ff9fee1f516dd72dd0e2a2e32a1cfc9846d4fa2008b86752f8efe6aed3ca0132c08a1489b8b735841",
        peer="0401953e689ce42b56dec5554c5980b62302a1c25b670515fb6acb63ade3df7dd93c31cc6125e48bb44dac",
        shared="079a5350975d287cad00d5b9fc1a110272c9fed0ff"),
    "sect283k1": dict(
        private=0x00B8D7EA4A4D6B70350A1E159E04CDBB5A9758E5B6611159EDD1045CC162FDED282A669F,
        public="040033ea9dcf601544055d947604ac0af87471f785a7e1c08868cbb3c53e6f888412661add015cb023123600"
               "2bda2b6d5202a524ce83d68ec0dac5fc96257a48840154 34fd897cd081".replace(" ", ""),
        peer="0406336bbf8523949b2c0849c7c6ac4a84575d4535e22fd8ef690ab9597e1de48852ab1e5201f56877d08b60f9"
             "123d8bd3b19ce74890287435451d4690bd0d8665c566a2af4c62f846",
        shared="059f8a0326a900ca2c1d461dbd438210c2cc61371cf38380853b81b550860d1294c02eb5"),
}

CERTICOM = {
    1: dict(ca="0200fde8a7f3d1084224962a4e7c54e69ac3f04da6b8",
            cert="02020882b1d7df05538f37cdd09a4f6b15368998642b002208000000000154455354534543410109108301234567890a",
            private="0392ba4afc2453a49eebe9bca8de73210f02479a4a",
            public="0207d1ca014786b5e552cfd5f04339a2e856f00eaaef"),
    2: dict(ca="0207a445022d9f39f49bdc38380026a27a9e0a1799313ab28c5c1a1c6b605154db1dff6752",
            cert="000b3ad5a312ab75d60d081112131415161718005b7ed230ffffffff0022080000000001080205bb3d1d1576197f"
                 "f9ab6563915019a130437adb0ee7915432dc4a09c97dc595c5856800",
            private="00997097b87684f62f555173c47be89935fbf6440ae292492b54c5829a0d541f4d26e254",
            public="02012f082ee7db1bd3f89f16eabbf5d6221a5dcd077fc0c9d37b329eee8e2cdaee03439de0"),
}

CURVES = {"sect163k1": SECT163K1, "sect283k1": SECT283K1}


def _uncompressed(curve, hex_point: str) -> tuple[int, int]:
    raw = bytes.fromhex(hex_point)
    size = curve.field_bytes
    assert raw[0] == 4 and len(raw) == 1 + 2 * size
    return int.from_bytes(raw[1:1 + size], "big"), int.from_bytes(raw[1 + size:], "big")


@pytest.mark.parametrize("name", sorted(OPENSSL))
def test_scalar_products_match_openssl(name: str) -> None:
    curve, v = CURVES[name], OPENSSL[name]
    public = _uncompressed(curve, v["public"])
    peer = _uncompressed(curve, v["peer"])
    assert curve.is_on_curve(public) and curve.is_on_curve(peer)
    assert curve.multiply_generator(v["private"]) == public          # the generator's cached multiples
    assert curve.multiply(v["private"], curve.generator) == public   # interleaved tau-adic NAF
    shared = curve.multiply(v["private"], peer)
    assert shared[0].to_bytes(curve.field_bytes, "big").hex() == v["shared"]
    assert curve.decode(curve.encode(peer)) == peer


@pytest.mark.parametrize("curve", [SECT163K1, SECT283K1], ids=lambda c: c.name)
def test_group_laws(curve) -> None:
    g = curve.generator
    assert curve.multiply(curve.n, g) is None
    assert curve.multiply(curve.n - 1, g) == curve.negate(g)
    assert curve.multiply(2, g) == curve.add(g, g)
    a, b = 0x1234567 << 100, 0xABCDEF
    assert curve.multi_multiply([(a, g), (b, g)]) == curve.multiply_generator(a + b)
    assert curve.add(curve.multiply(a, g), curve.negate(curve.multiply(a, g))) is None


@pytest.mark.parametrize("curve", [SECT163K1, SECT283K1], ids=lambda c: c.name)
def test_products_are_exact_outside_the_generators_subgroup(curve) -> None:
    """Scalars are reduced modulo tau^m - 1, which is zero on every point of the curve, not only on G's
    subgroup: a point with a 2-torsion part still multiplies exactly (a reduction modulo (tau^m - 1) /
    (tau - 1) would get these wrong)."""
    g, torsion = curve.generator, (0, 1)          # x = 0 gives y^2 = b = 1: the point of order 2
    assert curve.multiply(2, torsion) is None and curve.multiply(3, torsion) == torsion
    mixed = curve.add(g, torsion)
    for k in (0x1234567 << 100, (0xABCDEF << 200) + 1, curve.n, curve.n + 1):
        expected = curve.add(curve.multiply(k, g), torsion if k & 1 else None)
        assert curve.multiply(k, mixed) == expected
        assert curve.multi_multiply([(k, mixed), (-k, g)]) == (torsion if k & 1 else None)


def test_decode_rejects_what_is_not_a_point() -> None:
    with pytest.raises(InvalidPoint, match="prefix 0x04"):
        SECT163K1.decode(b"\x04" + bytes(21))
    with pytest.raises(InvalidPoint, match="22 bytes"):
        SECT283K1.decode(b"\x02" + bytes(21))
    x = 2
    while True:   # find an x with no point (half of all x): decode must say so, not invent a y
        try:
            SECT163K1.decode(b"\x02" + x.to_bytes(21, "big"))
        except InvalidPoint as exc:
            assert "no point" in str(exc)
            break
        x += 1


@pytest.mark.parametrize("suite", [1, 2])
def test_ecqv_reconstruction_matches_certicom_test_certificates(suite: int) -> None:
    v = CERTICOM[suite]
    cert = bytes.fromhex(v["cert"])
    curve = SUITES[suite].curve
    assert parse_implicit_certificate(cert, name="certicom").suite == suite
    assert curve.public_key(int(v["private"], 16)).hex() == v["public"]
    assert reconstruct_public_key(cert, bytes.fromhex(v["ca"])).hex() == v["public"]
    assert certificate_hash(cert) == int.from_bytes(aes_mmo_hash([cert]), "big")
    parsed = parse_implicit_certificate(cert, name="certicom")   # the field parser and the suite agree
    assert SUITES[suite].subject(cert) == parsed.subject and SUITES[suite].issuer(cert) == parsed.issuer
    assert SUITES[suite].reconstruction_data(cert) == parsed.reconstruction_data


def test_reconstruction_with_the_wrong_ca_gives_another_key() -> None:
    cert = bytes.fromhex(CERTICOM[1]["cert"])
    other_ca = SECT163K1.public_key(12345)
    assert reconstruct_public_key(cert, other_ca).hex() != CERTICOM[1]["public"]
    with pytest.raises(MalformedCertificate, match=r"cbke\.point"):
        reconstruct_public_key(cert, b"\x05" + bytes(21))


def _identity(suite: int, ca_private: int, subject: bytes, seed: int) -> CbkeIdentity:
    issued = issue_implicit_certificate(suite, ca_private_key=ca_private, issuer=b"TESTSECA", subject=subject,
                                        request_key=seed, ca_nonce=seed * 7 + 1,
                                        valid_from=dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
    ca_public = SUITES[suite].curve.public_key(ca_private)
    assert reconstruct_public_key(issued.certificate, ca_public) == issued.public_key
    return CbkeIdentity(suite, issued.certificate, issued.private_key, ca_public)


@pytest.mark.parametrize("suite", [1, 2])
def test_both_sides_agree_and_a_wrong_key_does_not(suite: int) -> None:
    ca = 0xC0FFEE + suite
    hub = _identity(suite, ca, bytes.fromhex("000d6f000abc0000"), 11)
    meter = _identity(suite, ca, bytes.fromhex("000d6f000abc0001"), 22)
    eh, em = EphemeralKey.generate(suite), EphemeralKey.generate(suite)
    on_hub = establish(hub, eh, partner_certificate=meter.certificate,
                       partner_ephemeral_public_key=em.public_key, am_initiator=False)
    on_meter = establish(meter, em, partner_certificate=hub.certificate,
                         partner_ephemeral_public_key=eh.public_key, am_initiator=True)
    assert on_hub == on_meter and on_hub.mac_u != on_hub.mac_v and len(on_hub.link_key) == 16
    # ECMQV itself: the static keys matter, not only the ephemeral ones.
    impostor = CbkeIdentity(suite, meter.certificate, meter.private_key ^ 1, meter.ca_public_key)
    forged = establish(impostor, em, partner_certificate=hub.certificate,
                       partner_ephemeral_public_key=eh.public_key, am_initiator=True)
    assert forged.mac_u != on_hub.mac_u and forged.link_key != on_hub.link_key


def test_ecmqv_is_mqv_of_the_reconstructed_keys() -> None:
    """Z computed in one interleaved product equals the textbook h*s*(V + v-bar*Q_V) step by step."""
    suite, curve = 2, SECT283K1
    a = _identity(suite, 99, bytes(8), 5)
    b = _identity(suite, 99, bytes(range(8)), 6)
    ea, eb = EphemeralKey.generate(suite), EphemeralKey.generate(suite)
    z = ecmqv_shared_secret(suite, static_private_key=a.private_key, ephemeral_private_key=ea.private_key,
                            ephemeral_public_key=ea.public_key, partner_certificate=b.certificate,
                            partner_ephemeral_public_key=eb.public_key, ca_public_key=a.ca_public_key)
    half = 1 << ((curve.n.bit_length() + 1) // 2)
    ua = curve.decode(ea.public_key)[0] % half + half
    vb = curve.decode(eb.public_key)[0] % half + half
    s = (ea.private_key + ua * a.private_key) % curve.n
    q_b = curve.decode(reconstruct_public_key(b.certificate, a.ca_public_key))
    p = curve.add(curve.decode(eb.public_key), curve.multiply(vb, q_b))
    expected = curve.multiply(curve.cofactor * s, p)
    assert z == expected[0].to_bytes(curve.field_bytes, "big")


def test_kdf_and_mac_are_built_on_aes_mmo() -> None:
    z = bytes(range(21))
    mac_key, key_data = kdf(z)
    assert mac_key == aes_mmo_hash([z + b"\x00\x00\x00\x01"])
    assert key_data == aes_mmo_hash([z + b"\x00\x00\x00\x02"])
    key = bytes(range(16))
    inner = aes_mmo_hash([bytes(b ^ 0x36 for b in key) + b"msg"])
    assert mmo_hmac(key, b"msg") == aes_mmo_hash([bytes(b ^ 0x5C for b in key) + inner])


ZIGBEE_C5 = [  # (message, AES-MMO hash)
    (bytes([0xC0]), "ae3a102a28d43ee0d4a09e22788b206c"),
    (bytes(range(0xC0, 0xD0)), "a7977e88bc0b61e8210827109a228f2d"),
    (bytes(i & 0xFF for i in range(8191)), "24ec2fe75bbffcb34789bc0610e7f165"),
    (bytes(i & 0xFF for i in range(8192)), "dc6b0687f09f8607131c170b3bd31591"),
]


@pytest.mark.parametrize(("message", "digest"), ZIGBEE_C5, ids=["C.5.1", "C.5.2", "C.5.3", "C.5.4"])
def test_aes_mmo_matches_the_zigbee_specification(message: bytes, digest: str) -> None:
    assert aes_mmo_hash([message]).hex() == digest


ZIGBEE_C6 = [  # (key, message, keyed hash)
    (bytes(range(0x40, 0x50)), bytes([0xC0]), "4512807bf94cb3400f0e2c25fb76e999"),
    (bytes(range(0x40, 0x60)), bytes(range(0xC0, 0xD0)), "a3b0079984bf1557f74a0d6387e0a11a"),
]


@pytest.mark.parametrize(("key", "message", "tag"), ZIGBEE_C6, ids=["C.6.1", "C.6.2"])
def test_the_cbke_mac_matches_the_zigbee_keyed_hash_vectors(key: bytes, message: bytes, tag: str) -> None:
    """C.6.2's 32-octet key is longer than a block, so it is hashed first (FIPS 198)."""
    assert mmo_hmac(key, message).hex() == tag


def _sha256(message: bytes) -> bytes:
    return hashlib.sha256(message).digest()


@pytest.mark.parametrize("length", [16, 32, 80])
def test_the_kdf_is_x963_as_cryptography_computes_it(length: int) -> None:
    z = bytes(range(7, 43))
    assert x963_kdf(z, length, _sha256) == X963KDF(hashes.SHA256(), length, None).derive(z)
    mac_key, key_data = kdf(z)   # ZSE: the same construction on AES-MMO, 32 octets, MacKey first
    assert mac_key + key_data == x963_kdf(z, 32, lambda m: aes_mmo_hash([m]))


@pytest.mark.parametrize("key_length", [10, 64, 100])
def test_the_hmac_construction_is_fips_198_as_cryptography_computes_it(key_length: int) -> None:
    key, message = bytes(range(key_length)), b"MACU message" * 5
    reference = crypto_hmac.HMAC(key, hashes.SHA256())
    reference.update(message)
    assert hmac(key, message, _sha256, 64) == reference.finalize()


_CURVE_OID = {"sect163k1": "06052b81040001", "sect283k1": "06052b81040010"}


def _der(tag: int, body: bytes) -> bytes:
    length = bytes([len(body)]) if len(body) < 0x80 else bytes([0x81, len(body)])
    return bytes([tag]) + length + body


def _openssl_public_point(curve, scalar: int) -> bytes:
    """scalar * G as OpenSSL computes it (an RFC 5915 key with no public part, which OpenSSL derives),
    compressed."""
    key = _der(0x30, _der(0x02, b"\x01") + _der(0x04, curve.scalar_to_bytes(scalar))
               + _der(0xA0, bytes.fromhex(_CURVE_OID[curve.name])))
    spki = subprocess.run(["openssl", "ec", "-inform", "DER", "-pubout", "-outform", "DER",
                           "-conv_form", "compressed"], input=key, capture_output=True, check=True).stdout
    return spki[-curve.compressed_length:]


@pytest.mark.parametrize("suite", [1, 2])
def test_ecmqv_matches_openssl_from_the_private_scalars(suite: int) -> None:
    curve = SUITES[suite].curve
    n = curve.n
    u = _identity(suite, 0xCA5E + suite, bytes.fromhex("000d6f000abc0010"), 31)
    v = _identity(suite, 0xCA5E + suite, bytes.fromhex("000d6f000abc0011"), 47)
    r_u, r_v = 0x5EED_0001 * 0x1F2E3D4C5B6A7988 % n, 0x5EED_0002 * 0x0A1B2C3D4E5F6071 % n
    e_u, e_v = _openssl_public_point(curve, r_u), _openssl_public_point(curve, r_v)
    assert _openssl_public_point(curve, v.private_key) == reconstruct_public_key(v.certificate,
                                                                                  v.ca_public_key)
    half = 1 << math.ceil(n.bit_length() / 2)   # SEC 1 v2 §3.4 steps 2-3: the associate value

    def bar(point: bytes) -> int:
        return int.from_bytes(point[1:], "big") % half + half

    s_u = (r_u + bar(e_u) * u.private_key) % n
    t = curve.cofactor * s_u * (r_v + bar(e_v) * v.private_key) % n
    expected = _openssl_public_point(curve, t)[1:]
    on_u = ecmqv_shared_secret(suite, static_private_key=u.private_key, ephemeral_private_key=r_u,
                               ephemeral_public_key=e_u, partner_certificate=v.certificate,
                               partner_ephemeral_public_key=e_v, ca_public_key=u.ca_public_key)
    on_v = ecmqv_shared_secret(suite, static_private_key=v.private_key, ephemeral_private_key=r_v,
                               ephemeral_public_key=e_v, partner_certificate=u.certificate,
                               partner_ephemeral_public_key=e_u, ca_public_key=v.ca_public_key)
    assert on_u == on_v == expected


ZSE_C5 = {
    1: dict(
        ca="0200fde8a7f3d1084224962a4e7c54e69ac3f04da6b8",
        responder=dict(  # device 1, EUI-64 0000000000000001
            cert="03045fdfc8d85ffb8b3993cb72ddcaa55f00b3e87d6d0000000000000001544553545345434101090006"
                 "000000000000",
            private="00b8a900fcadebabbfa383b540fce9ed438395eaa7",
            public="030290a1f5c08dad5f2945e335620c7a98fac46666a1",
            eph_private="03d48c7210ddbcc4fb2e5e7a0aa16a0db89540820b",
            eph_public="0306ab52062201d995b8b8591f3f086a3a2e214d845e"),
        initiator=dict(  # device 2, EUI-64 0000000000000002
            cert="020615e07d30eca2dad58002e667d94bc1b42239830700000000000000025445535453454341010900060"
                 "00000000000",
            private="01e9ddb5580cf72ece7f215f0ae594e48df3e7fee8",
            public="03025bba38d0c7b5436b68df728f093e7a1d6c437e6d",
            eph_private="0013d36de4b1ea8e22739c381370823f404bff8862",
            eph_public="0300e117c86d0e7cd128b2f34e9076cff24af46d7288"),
        z="00e0d2c3ccd5c106a89c4f6cc26a5f7ec9df78a7be",
        mac_key="90f967b22c8357c10c1c04788de9e848",
        mac_v="79d5f2ad1c31d4d1ee7cb719ac683c3c"),
    2: dict(
        ca="0207a445022d9f39f49bdc38380026a27a9e0a1799313ab28c5c1a1c6b605154db1dff6752",
        responder=dict(
            cert="002622a505e8938f270d081112131415161718005292a35bffffffff0a0b0c0d0e0f1011880303b4e9dc"
                 "543a64333c982308022b54e67e2f15f532551b0a11e2e2c1c1d3097a4324e7ed",
            private="0151cd0dbcb80474bf7ac9feebe39c7a32a63518938fca9754aae132bc9c73be94a7e1be",
            public="0202f4fa2a3040433c6820299d182a1042e41404e337c57f47716b42dfaf970f1580a04c9b",
            eph_private="03d48c7210ddbcc4fb2e5e7a0aa16a0db89540820b8dc091ab521ea824afe117cade995b",
            eph_public="03009a5131cf5b92a016378c0f7f284ecd47f94010f875d43bf1e9a65474adbfc63696a930"),
        initiator=dict(
            cert="0084a933b37f018dec0d081112131415161718005292a38affffffff0a0b0c0d0e0f10128803076277e2"
                 "f7e2252b16a0e92b6e8771bb3f207946cbd4a45d9a9df6edab8c796a48e89dec",
            private="00f2561adb39ef49c1d62ef5186c6e0c158a5a45bfce38660931acc3694592d5acde9006",
            public="03030e56f7ade866e76372764ba20a9ff1fe4cae522f94839e70f2adfc1ca3e97f4ddcaf2e",
            eph_private="0013d36de4b1ea8e22739c381370823f404bff8862b521feca9871fb3691846d361304b4",
            eph_public="0305f3394e15680660eecaa36788d9b6f312b971ce2c9617570bf7dfcd21c972017762c332"),
        z="04f7724a9a77b21d2747ccef68a457e45246c4be9f66fd9425227bcb2cc5180ea9cccb9a"),
}


def _zse_party(suite: int, role: str) -> tuple[CbkeIdentity, EphemeralKey]:
    v = ZSE_C5[suite]
    party = v[role]
    identity = CbkeIdentity(suite, bytes.fromhex(party["cert"]), int(party["private"], 16),
                            bytes.fromhex(v["ca"]))
    return identity, EphemeralKey(suite, int(party["eph_private"], 16), bytes.fromhex(party["eph_public"]))


@pytest.mark.parametrize("suite", [1, 2])
def test_the_zse_key_establishment_test_data_reproduces(suite: int) -> None:
    """Both parties of ZSE annex C.5: each certificate reconstructs to its key, the ephemeral keys are
    what their private keys give, and ECMQV yields the published shared secret on both sides."""
    v = ZSE_C5[suite]
    curve = SUITES[suite].curve
    for role in ("initiator", "responder"):
        identity, ephemeral = _zse_party(suite, role)
        party = v[role]
        assert reconstruct_public_key(identity.certificate, identity.ca_public_key).hex() == party["public"]
        assert curve.public_key(identity.private_key).hex() == party["public"]
        assert curve.public_key(ephemeral.private_key) == ephemeral.public_key
    (u, eu), (w, ew) = _zse_party(suite, "initiator"), _zse_party(suite, "responder")
    for me, mine, partner, theirs in ((u, eu, w, ew), (w, ew, u, eu)):
        z = ecmqv_shared_secret(suite, static_private_key=me.private_key,
                                ephemeral_private_key=mine.private_key, ephemeral_public_key=mine.public_key,
                                partner_certificate=partner.certificate,
                                partner_ephemeral_public_key=theirs.public_key,
                                ca_public_key=me.ca_public_key)
        assert z.hex() == v["z"]


def test_the_zse_suite_1_mac_key_and_macv_reproduce() -> None:
    """C.5's MacKey (KDF of Z) and the responder's MACV over 03 | ID_V | ID_U | E_V | E_U, computed by
    ``establish`` on each side as the hub and the NCP engine use it."""
    v = ZSE_C5[1]
    assert kdf(bytes.fromhex(v["z"]))[0].hex() == v["mac_key"]
    (u, eu), (w, ew) = _zse_party(1, "initiator"), _zse_party(1, "responder")
    on_initiator = establish(u, eu, partner_certificate=w.certificate,
                             partner_ephemeral_public_key=ew.public_key, am_initiator=True)
    on_responder = establish(w, ew, partner_certificate=u.certificate,
                             partner_ephemeral_public_key=eu.public_key, am_initiator=False)
    assert on_initiator == on_responder
    assert on_responder.mac_v.hex() == v["mac_v"]

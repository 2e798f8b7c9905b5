"""CBKE CPU cost (issues 13, 19): one complete key establishment, both sides (two ephemeral keys, two
ECMQV shared secrets with certificate reconstruction, KDF and both MACs), for crypto suite 1 (sect163k1)
and suite 2 (sect283k1) on one core, and the CPU a 200-device bench needs to key every device. Target:
< 100 ms per suite 2 exchange. Each figure is printed twice: with the curve products in OpenSSL's
libcrypto (``certs.ecc_openssl``, what hanrig uses when libcrypto has the binary curves) and in the
pure-Python fallback (``certs.ecc_koblitz``), with the ratio. The outside reference is OpenSSL's own
ECDH on the same curve (``openssl speed ecdhk163/ecdhk283``, when the openssl command is there). Prints
figures; asserts nothing.

    python bench/cbke.py [--rounds N] [--devices N]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import time

from certs.cbke import SUITES, CbkeIdentity, EphemeralKey, establish, issue_implicit_certificate
from certs.ecc_koblitz import python_arithmetic


def identities(suite: int, count: int) -> tuple[CbkeIdentity, list[CbkeIdentity]]:
    curve = SUITES[suite].curve
    ca_private = 0x5EED + suite
    ca_public = curve.public_key(ca_private)

    def make(index: int) -> CbkeIdentity:
        issued = issue_implicit_certificate(suite, ca_private_key=ca_private, issuer=b"TESTONLY",
                                            subject=(0x000D6F000ABC0000 + index).to_bytes(8, "big"),
                                            request_key=1000 + index, ca_nonce=77 + index)
        return CbkeIdentity(suite, issued.certificate, issued.private_key, ca_public)

    return make(0), [make(i + 1) for i in range(count)]


def exchange(hub: CbkeIdentity, device: CbkeIdentity) -> bytes:
    device_ephemeral = EphemeralKey.generate(device.suite)
    hub_ephemeral = EphemeralKey.generate(hub.suite)
    on_device = establish(device, device_ephemeral, partner_certificate=hub.certificate,
                          partner_ephemeral_public_key=hub_ephemeral.public_key, am_initiator=True)
    on_hub = establish(hub, hub_ephemeral, partner_certificate=device.certificate,
                       partner_ephemeral_public_key=device_ephemeral.public_key, am_initiator=False)
    assert on_device == on_hub
    return on_hub.link_key


def openssl_ecdh_ms(curve: str) -> float | None:
    """OpenSSL's time for one ECDH op on the curve (one side's scalar product), if openssl is here."""
    if shutil.which("openssl") is None:
        return None
    name = {"sect163k1": "ecdhk163", "sect283k1": "ecdhk283"}[curve]
    try:
        out = subprocess.run(["openssl", "speed", "-seconds", "1", name], capture_output=True, text=True,
                             timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"\(\w+\)\s+([\d.]+)s\s+([\d.]+)", out)
    return float(match.group(1)) * 1000 if match else None


def measure(hub: CbkeIdentity, devices: list[CbkeIdentity], rounds: int, bench_devices: int
            ) -> tuple[float, float]:
    """(ms CPU per exchange over ``rounds``, s CPU to key ``bench_devices``) on the current arithmetic."""
    exchange(hub, devices[0])   # computes the generators' digit multiples once, as a running hub would
    start = time.process_time()
    for device in devices[:rounds]:
        exchange(hub, device)
    per_exchange_ms = (time.process_time() - start) / rounds * 1000
    start = time.process_time()
    for device in devices[:bench_devices]:
        exchange(hub, device)
    return per_exchange_ms, time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--devices", type=int, default=200)
    args = parser.parse_args()
    for suite in (1, 2):
        curve = SUITES[suite].curve
        hub, devices = identities(suite, max(args.rounds, args.devices))
        with python_arithmetic():
            python_ms, python_s = measure(hub, devices, args.rounds, args.devices)
        line = f"suite {suite} ({curve.name}), CPU per complete exchange (both sides):"
        if curve._openssl is None:
            fast_ms, fast_s = python_ms, python_s
            line += " OpenSSL path unavailable (libcrypto without binary curves);"
        else:
            fast_ms, fast_s = measure(hub, devices, args.rounds, args.devices)
            line += (f" OpenSSL-assisted {fast_ms:6.2f} ms, pure Python {python_ms:6.2f} ms"
                     f" (Python/OpenSSL {python_ms / fast_ms:.1f}x);")
        line += (f" {args.devices} devices keyed in {fast_s:5.2f} s CPU ({python_s:5.2f} s in Python)")
        if suite == 2:
            line += f"; target 100 ms -> {fast_ms / 100:.2f} of budget ({python_ms / 100:.2f} in Python)"
        reference = openssl_ecdh_ms(curve.name)
        if reference:
            line += (f"; openssl speed ECDH {reference:.2f} ms per op, an exchange costs "
                     f"{fast_ms / reference:.1f}x one op ({python_ms / reference:.0f}x in Python)")
        print(line)


if __name__ == "__main__":
    main()

"""Throughput of the OTA image toolkit: parse, SHA-256 of the Manufacturer Image, Supplier-signature
verification, for a 1 MiB and a 16 MiB image in both layouts. Prints figures; asserts nothing.

The aim: parsing copies nothing (memoryviews), so it costs well under 5 % of hashing the image.
Run: ``python bench/ota_image.py [--repeat N]``.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import time
from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric import ec

from ota import build_image, read_image, verify_image
from ota.signing import aes_mmo_hash, verify_raw

MIB = 1024 * 1024


def timed(action: Callable[[], object], repeat: int) -> float:
    """Median wall time of ``action`` in seconds."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def rate(size: int, seconds: float) -> str:
    return f"{size / MIB / seconds:10.1f} MiB/s" if seconds else "       inf"


def bench(size: int, layout: str, key: ec.EllipticCurvePrivateKey, repeat: int) -> None:
    payload = hashlib.shake_256(b"bench").digest(size)
    data = build_image(payload, manufacturer_code=0x1234, image_type=0x0101, file_version=1, layout=layout,
                       hw_min=1, hw_max=3, sign_key=key)
    public_key = key.public_key()
    image = read_image(data)
    parse = timed(lambda: read_image(data), repeat)
    # read_image validates every header field with a compiled decoder; the zigpy Struct in .header is
    # built on first use, so this is the cost a caller that reads the header pays.
    parse_header = timed(lambda: read_image(data).header, repeat)
    sha = timed(lambda: hashlib.sha256(image.manufacturer_image).digest(), repeat)
    verify = timed(lambda: verify_raw(public_key, image.manufacturer_image, image.signature), repeat)
    full = timed(lambda: verify_image(read_image(data), public_key=public_key), repeat)
    label = f"{size // MIB:>2} MiB {layout:<6}"
    print(f"{label} parse        {parse * 1e6:10.1f} us   {rate(size, parse)}")
    print(f"{label} parse+header {parse_header * 1e6:10.1f} us   {rate(size, parse_header)}")
    print(f"{label} sha256       {sha * 1e3:10.2f} ms   {rate(size, sha)}")
    print(f"{label} verify       {verify * 1e3:10.2f} ms   {rate(size, verify)}   (SHA-256 + ECDSA P-256)")
    print(f"{label} parse+verify {full * 1e3:10.2f} ms   {rate(size, full)}   (read_image + verify_image)")
    print(f"{label} parse/hash   {100 * parse / sha:10.3f} %   "
          f"(with .header: {100 * parse_header / sha:.3f} %)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    key = ec.derive_private_key(0xBE7C4, ec.SECP256R1())
    for size in (1 * MIB, 16 * MIB):
        for layout in ("gbcs", "zigbee"):
            bench(size, layout, key, args.repeat)
    # The integrity code is one AES key schedule per 16 octets: measured apart, on 1 MiB only.
    blob = bytes(MIB)
    mmo = timed(lambda: aes_mmo_hash([blob]), 1)
    print(f" 1 MiB        aes-mmo      {mmo * 1e3:10.1f} ms   {rate(MIB, mmo)}   (integrity code)")


if __name__ == "__main__":
    main()

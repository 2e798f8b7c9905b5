"""GBCS throughput on one core: GCS13a responses read and MAC-verified per second with the shared
secret cached, next to the cost of one key agreement (the static-static ECDH the cache spares).
Also the full path (read, verify, decrypt and decode the registers with names and units).
Prints figures; asserts nothing. Target: >= 10,000 messages/s read and MAC-verified.

Run: ``python bench/gbcs_messages.py [--messages N] [--repeat N]``. Keys are made in memory (TEST-ONLY),
so the bench needs no keystore; the stream is real GCS13a responses as ``gbcs`` builds them (the same bytes
the RTDS has for the same inputs, see tests/gbcs).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric import ec

import gbcs
from gbcs.content import GasRegisters, gcs13a_response_content

DEVICE = bytes.fromhex("00db1234567890a3")
SUPPLIER = bytes.fromhex("90b3d51f30010000")


def timed(action: Callable[[], object], repeat: int) -> float:
    """Median wall time of ``action`` in seconds."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def stream(count: int) -> tuple[list[bytes], gbcs.Keystore]:
    keystore = gbcs.Keystore()
    keystore.add_private_key(SUPPLIER, gbcs.KeyUse.KA, ec.generate_private_key(ec.SECP256R1()))
    keystore.add_private_key(DEVICE, gbcs.KeyUse.KA, ec.generate_private_key(ec.SECP256R1()))
    builder = gbcs.Security(keystore)
    messages = []
    for counter in range(1000, 1000 + count):
        header = gbcs.response(DEVICE, SUPPLIER, counter, 0x0074, b"",
                               date_time=gbcs.DlmsDateTime(2015, 1, 1, None, 0, 0, 0, 0, None, 0))
        content = gcs13a_response_content(header, GasRegisters(12345 + counter), builder)
        messages.append(builder.apply_mac(header.with_(content=content)).to_bytes())
    return messages, keystore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    messages, keystore = stream(args.messages)
    security = gbcs.Security(keystore)

    def read_and_verify() -> None:
        for data in messages:
            if security.verify_mac(gbcs.read_message(data)) is not gbcs.Verdict.VALID:
                raise SystemExit("a MAC did not verify")

    def read_verify_decode() -> None:
        for data in messages:
            message = gbcs.read_message(data)
            security.verify_mac(message)
            gbcs.decode_content(message, security)

    def read_only() -> None:
        for data in messages:
            gbcs.read_message(data)

    supplier_key = keystore.private_key(SUPPLIER, gbcs.KeyUse.KA)
    device_public = keystore.public_key(DEVICE, gbcs.KeyUse.KA)
    agreements = 2000

    def key_agreement() -> None:
        for _ in range(agreements):
            supplier_key.exchange(ec.ECDH(), device_public)  # type: ignore[union-attr]

    read_and_verify()  # warm: the one key agreement of the stream happens here
    n = len(messages)
    verify_s = timed(read_and_verify, args.repeat) / n
    read_s = timed(read_only, args.repeat) / n
    full_s = timed(read_verify_decode, max(1, args.repeat // 2)) / n
    ecdh_s = timed(key_agreement, args.repeat) / agreements
    print(f"GCS13a responses ({len(messages[0])} octets each), {n} per pass, median of {args.repeat} passes, "
          "one core")
    print(f"  read only                        {1 / read_s:12,.0f} msg/s  {read_s * 1e6:8.1f} us/msg")
    print(f"  read + MAC verify (cached Z)     {1 / verify_s:12,.0f} msg/s  {verify_s * 1e6:8.1f} us/msg"
          f"   target >= 10,000 msg/s: {'met' if 1 / verify_s >= 10_000 else 'NOT met'}")
    print(f"  read + MAC + decrypt + decode    {1 / full_s:12,.0f} msg/s  {full_s * 1e6:8.1f} us/msg")
    print(f"  key agreement alone (P-256 ECDH) {1 / ecdh_s:12,.0f} op/s   {ecdh_s * 1e6:8.1f} us/op")
    print(f"  one key agreement costs {ecdh_s / verify_s:.1f}x a cached read + MAC verify; "
          f"key agreements done by the verifier: {security.key_agreements}")


if __name__ == "__main__":
    main()

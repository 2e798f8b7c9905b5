"""SECMP0063 over the HAN: read what an ESME has installed with the GBCS use cases and verify it
(``gw.certs``), including that its Network Operator cells hold the expected network operator's certificates.

The read goes through ``gw.gbcs`` (GB-HRGP tunnel, every response's MAC or signature, counter and target
checked): **CS02a** Provide Security Credentials Details (as the Access Control Broker, MAC only) for
every remote party role, which gives each trust anchor cell's subject unique id (the organisation's
Entity ID) and subject key id; and **CS02c** Issue Security Credentials (signed by the supplier) for a
new digital signature key, whose PKCS#10 request must be signed by the new key and name the device.

CS02a reports, per remote party, its status and sequence number and, per trust anchor cell, the key usage,
the cell usage, the subject unique id and the subject key id (the RTDS CS02a response's fields); all are
kept (``InstalledCredentials.remote_parties``, shown by ``hanrig certs verify --radio``). Where the host
knows the organisation certificates (the bench PKI's on ``sim://`` and the virtual stick, plus any roots
and CAs given), each cell's (subject unique id, subject key id) is looked up among them: ``cell.certificate``
names the certificate the meter holds, ``cell.unknown_key`` fails a cell whose key id none of that
organisation's known certificates has (a stale or foreign certificate under the right Entity ID).

The checks (``certs.report`` codes): ``han.cs02a_status`` per role the meter could not report;
``cell.unreadable`` for a cell whose ids are empty (a damaged certificate); ``secmp0063.network_operator``
/ ``secmp0063.wrong_network_operator`` per networkOperator cell against the expected operator(s) (a
set of Entity IDs), ``secmp0063.no_network_operator_cell`` when there is none; ``device.cs02c`` for the
request. A GBCS response that fails its own checks is a failed ``han.gbcs_response`` naming the reason.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gbcs
import hal
from certs import CertificateError, Report, load_certificate
from certs.model import SmkiCertificate, parse_eui64
from certs.report import Check, failed, passed, warned
from certs.testpki import ENTITY_IDS
from gbcs.content import CS02B_NO_BY_NO, cs02a_command_content, cs02b_command_content, cs02c_command_content
from gbcs.dcc import check_update
from hanrig_errors import CheckFailed, eui64_bytes, eui64_text

from .exceptions import DeviceNotFound
from .gbcs_service import TUNNELING, GbcsResponseRejected
from .testkeys import TEST_ROOT, certificates_are_test, is_bench_radio

if TYPE_CHECKING:
    from .session import Gateway, HanDevice

ALL_ROLES = (1, 2, 3, 4, 5, 6)  # recovery, supplier, networkOperator, ACB, transitionalCoS, wanProvider
CS02A = 0x0008
CS02C = 0x000A

__all__ = ["TUNNELING", "CertsService", "InstalledCredentials", "UpdateRefused", "expected_operators",
           "read_over_radio"]


class UpdateRefused(CheckFailed):
    """A CS02b the DCC's check refused before sending (SECMP0063); the message names both Entity IDs."""


@dataclass(frozen=True)
class InstalledCredentials:
    """What a meter reported: CS02a's remote parties (role, status, cells) and CS02c's request."""

    eui64: str
    remote_parties: list[dict[str, Any]]
    certification_request: dict[str, Any] | None
    exchanges: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {"device": self.eui64, "remote_parties": self.remote_parties,
                "certification_request": self.certification_request, "gbcs": self.exchanges}

    def render_cs02a(self) -> str:
        """CS02a as the meter reported it: per remote party its status and sequence number, per cell its key
        usage, cell usage, subject unique id and subject key id."""
        lines = [f"CS02a credentials of {self.eui64}:"]
        for party in self.remote_parties:
            seq = party.get("seq_number", "-")
            lines.append(f"  {party['remote_party_role']}: {party['status']}, seq {seq}")
            for cell in party.get("trust_anchor_cells", []):
                lines.append(f"    {_usage(cell)} {cell['cell_usage']:<16} subject "
                             f"{eui64_text(bytes.fromhex(cell['subject_unique_id']))} "
                             f"key id {cell['subject_key_id']}")
        return "\n".join(lines)


def _usage(cell: dict[str, Any]) -> str:
    return "DS" if cell["key_usage"] == ["digitalSignature"] else "KA"


def known_certificates(ders: Iterable[bytes]) -> dict[tuple[bytes, bytes], SmkiCertificate]:
    """Certificates by (Entity ID, subject key id): what a CS02a cell is looked up in (unparsable ones and
    those without both ids are left out; the chain checks report them)."""
    known = {}
    for index, der in enumerate(ders):
        try:
            cert = load_certificate(der, name=f"known certificate {index}")
        except CertificateError:
            continue
        if cert.entity_id is not None and cert.ski is not None:
            known[(cert.entity_id, cert.ski)] = cert
    return known


def expected_operators(value: str | Iterable[str] | None) -> set[bytes] | None:
    """The expected network operator Entity IDs from one EUI-64, a comma list, or a list of them."""
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else list(value)
    return {parse_eui64(item.strip()) for item in items if item.strip()}


class CertsService:
    """The session's certificates feature."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        # trust TEST-ONLY chains on real radios too (--allow-test-keys; gateway.testkeys)
        self.allow_test_keys = False

    def test_chain_refusal(self, device: HanDevice, roots: Sequence[bytes] = ()) -> Check | None:
        """A failed ``test_keys.refused`` check when ``device`` is on a real radio (not sim:// nor the virtual
        stick) and the chain would be the TEST-ONLY one, unless test keys are allowed. Over the HAN the
        GBCS responses are always checked with the bench keystore (the TEST-ONLY PKI: the only keystore
        hanrig has), so on a real radio this refuses every read until --allow-test-keys is given."""
        if self.allow_test_keys:
            return None
        url = self.gateway.urls.get(device.radio_id, device.radio_id)
        if is_bench_radio(self.gateway.apps[device.radio_id], url):
            return None
        what = ("the given roots are" if certificates_are_test(roots)
                else "the GBCS keystore (hanrig's only one, the bench PKI's) is")
        return failed("test_keys.refused", f"{what} under the published {TEST_ROOT} and {url} is a real "
                      "radio; give --allow-test-keys to trust that chain anyway", device.eui64)

    async def read_installed(self, device: HanDevice) -> InstalledCredentials:
        """``device``'s trust anchor cell details (CS02a) and a request for a new DS key (CS02c)."""
        if TUNNELING not in device.endpoint.in_clusters:
            raise DeviceNotFound(device.eui64, "has no Tunneling server (0x0704): cannot read credentials")
        relay = self.gateway.gbcs
        cs02a = await relay.exchange(device, relay.build_command(device, CS02A,
                                                                 cs02a_command_content(list(ALL_ROLES))))
        cs02c = await relay.exchange(device, relay.build_command(device, CS02C, cs02c_command_content("DS"),
                                                                 originator=relay.supplier, signed=True))
        exchanges = [{"use_case": e.command.use_case, "command": e.command.to_bytes().hex(),
                      "response": e.response_bytes.hex(), "mac": e.security.mac.value,
                      "signature": e.security.signature.value, "octets_out": e.octets_out}
                     for e in (cs02a, cs02c)]
        return InstalledCredentials(device.eui64, cs02a.decoded.get("remote_parties", []),
                                    cs02c.decoded.get("certification_request"), exchanges)

    def cs02b(self, device: HanDevice, replacements: Sequence[tuple[bytes, str]], *,
              path: Sequence[bytes] = (), seq_number: int = 1) -> gbcs.Message:
        """A CS02b networkOperatorByNetworkOperator command placing ``replacements`` ((certificate DER,
        ``"DS"``/``"KA"``)) in ``device``'s networkOperator cells, signed by the current network operator
        and MACed by the Access Control Broker."""
        placed = [(der, 3, key) for der, key in replacements]  # role 3: the networkOperator cells
        content = cs02b_command_content(3, (3, "DS"), seq_number, placed, list(path))
        operator = eui64_bytes(ENTITY_IDS["networkOperator"])
        return self.gateway.gbcs.build_command(device, CS02B_NO_BY_NO, content, originator=operator,
                                               signed=True)

    async def update(self, device: HanDevice, command: gbcs.Message,
                     expected_network_operator: str | Iterable[str]) -> Any:
        """Send a CS02b after the DCC's SECMP0063 check (``gbcs.dcc.check_update``); ``UpdateRefused``
        naming both Entity IDs, and nothing sent, when it places another network operator."""
        verdict = check_update(command, expected_operators(expected_network_operator) or set())
        if not verdict.allowed:
            raise UpdateRefused(verdict.refusal or "refused")
        return await self.gateway.gbcs.exchange(device, command)

    async def verify(self, device: HanDevice, *, roots: Sequence[bytes] = (),
                     intermediates: Sequence[bytes] = (),
                     expected_network_operator: str | Iterable[str] | None = None,
                     now: dt.datetime | None = None, organisations: Sequence[bytes] = ()) -> Report:
        """Read ``device``'s credentials over GBCS and check them (see the module docstring), each cell
        against ``organisations`` (and the roots and CAs) where they know its certificate; nothing is
        read when the chain is a TEST-ONLY one on a real radio (``test_chain_refusal``)."""
        refusal = self.test_chain_refusal(device, roots)
        if refusal is not None:
            return Report.of([refusal])
        try:
            found = await self.read_installed(device)
        except GbcsResponseRejected as exc:
            return Report.of([failed("han.gbcs_response", str(exc), device.eui64)])
        known = known_certificates([*organisations, *roots, *intermediates])
        return Report.of(list(judge(found, expected_operators(expected_network_operator), known)))


def _identify(cell: dict[str, Any], where: str,
              known: dict[tuple[bytes, bytes], SmkiCertificate]) -> Check | None:
    """The certificate a cell holds, when the host knows the organisation's certificates."""
    subject, key_id = bytes.fromhex(cell["subject_unique_id"]), bytes.fromhex(cell["subject_key_id"])
    cert = known.get((subject, key_id))
    if cert is not None:
        return passed("cell.certificate", f"holds {eui64_text(subject)}: certificate "
                      f"{cert.common_name or cert.subject!r} (serial {cert.serial_number:x}, key id "
                      f"{key_id.hex()}, valid until {cert.not_after:%Y-%m-%d})", where)
    others = sorted(k.hex() for e, k in known if e == subject)
    if others:
        return failed("cell.unknown_key", f"holds Entity ID {eui64_text(subject)} with key id "
                      f"{key_id.hex()}, which none of its known certificates has ({', '.join(others)})",
                      where)
    return None


def judge(found: InstalledCredentials, expected: set[bytes] | None,
          known: dict[tuple[bytes, bytes], SmkiCertificate] | None = None) -> Iterable[Check]:
    want = ", ".join(sorted(eui64_text(e) for e in expected)) if expected else None
    no_cells = 0
    for party in found.remote_parties:
        role = party["remote_party_role"]
        if party["status"] != "success":
            yield (warned if role in ("recovery", "transitionalCoS", "wanProvider") else failed)(
                "han.cs02a_status", f"the meter reports {party['status']} for {role}", found.eui64)
            continue
        for cell in party.get("trust_anchor_cells", []):
            where = f"cell {role}-{_usage(cell)}-{cell['cell_usage']}"
            subject = bytes.fromhex(cell["subject_unique_id"])
            if subject == bytes(8) or bytes.fromhex(cell["subject_key_id"]) == bytes(8):
                yield failed("cell.unreadable", "the meter reports no subject for this cell", where)
                continue
            identified = _identify(cell, where, known or {})
            if identified is not None:
                yield identified
            if role != "networkOperator":
                if identified is None:
                    yield passed("cell.present", f"holds {eui64_text(subject)}", where)
                continue
            no_cells += 1
            if expected is None:
                yield warned("secmp0063.not_checked", "no expected network operator given "
                             "(rig devices[].network_operator / --expect-network-operator)", where)
            elif subject in expected:
                yield passed("secmp0063.network_operator",
                             f"Entity ID {eui64_text(subject)} is the expected network operator", where)
            else:
                yield failed("secmp0063.wrong_network_operator",
                             f"holds network operator Entity ID {eui64_text(subject)}, expected {want}",
                             where)
    if expected is not None and not no_cells:
        yield failed("secmp0063.no_network_operator_cell",
                     f"no networkOperator cell installed; expected network operator {want}", "SECMP0063")
    request = found.certification_request
    if request is None:
        yield failed("device.cs02c", "CS02c gave no certification request", found.eui64)
    elif not request.get("signature_valid") or request.get("device") != found.eui64.replace(":", ""):
        yield failed("device.cs02c", f"CS02c request not signed by its key or for another device "
                                     f"({request.get('device')})", found.eui64)
    else:
        yield passed("device.cs02c", f"CS02c: a {', '.join(request['key_usage'])} key request signed by the "
                                     f"new key, for device {found.eui64}", found.eui64)


def read_over_radio(radio_url: str, device: str, expected: str | Iterable[str] | None = None, *,
                    roots: Sequence[bytes] = (), allow_test_keys: bool = False, cbke: Any = None
                    ) -> tuple[InstalledCredentials, Report]:
    """One-off read and check for the CLI: open ``radio_url`` (on ``sim://`` the bench with its test PKI).
    On a real radio a TEST-ONLY chain is refused, nothing read, unless ``allow_test_keys``; ``cbke`` is the
    rig's :class:`~gateway.cbke.CbkePolicy` (the read goes over the SE Tunneling cluster)."""
    from .bench import bench_radio_config
    from .session import Gateway, RadioEndpoint

    radio_config, trust = bench_radio_config(radio_url)

    async def read() -> tuple[InstalledCredentials, Report]:
        async with Gateway.open([RadioEndpoint("radio", radio_url, radio_config)]) as gw:
            if trust is not None and trust.keystore is not None:
                gw.gbcs.use_keystore(trust.keystore)
            if cbke is not None:
                gw.cbke.policy = cbke
            han = gw.device(device)
            gw.certs.allow_test_keys = allow_test_keys
            refusal = gw.certs.test_chain_refusal(han, roots)
            if refusal is not None:
                return InstalledCredentials(han.eui64, [], None, []), Report.of([refusal])
            found = await gw.certs.read_installed(han)
            organisations = list(trust.organisations.values()) if trust is not None else []
            known = known_certificates([*organisations, *roots])
            return found, Report.of(list(judge(found, expected_operators(expected), known)))

    return hal.run(read, radio_url)

"""The built-in simulated bench, assembled in one place: radio config, bench PKI and credentials.

A ``sim://`` radio's bench is its ``[sim]``/``[[devices]]``/``[[faults]]`` configuration
(``hal.sim.config``, from the rig file's TOML or the default five-device bench), with the TEST-ONLY
SMKI PKI (``certs.testpki``) installed as bytes on every simulated ESME (``hal`` never imports
``certs``), including what a configured ``credentials_fault`` needs (the wrong network operator's
certificates, an expired supplier certificate), and every ESME's and GSME's GBCS side (``gbcs.device``).
The bench also knows that PKI's root and issuing CAs
(:class:`BenchTrust`), so a certs step or ``hanrig certs verify`` can check the meters against it.

Users: the rig runner (:func:`radio_endpoint` per rig radio), the CLI's one-off commands
(:func:`bench_radio_config`), and ``hanrig sim stick`` (:func:`bench_sim_config`, :func:`virtual_han`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import zigpy.types as zigpy_t
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

import gbcs
import hal
from certs.model import RemotePartyRole as CertRole
from certs.testpki import ENTITY_IDS, HUB, TestPki, derive_key, make_test_pki
from gbcs.device import GbcsMeter, MeterFault, cells_from_certificates
from hal.roles import Role
from hal.sim.config import DeviceSpec, SimConfig, default_bench, load_sim_config, parse_sim_config
from hal.sim.credentials import CredentialsFault, faulty_cells
from hanrig_errors import eui64_bytes

from .session import RadioEndpoint

if TYPE_CHECKING:
    from hal.sim.han import VirtualHan
    from hal.simcontrol import SimControl

EXPIRED_NOT_BEFORE: Final = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
EXPIRED_NOT_AFTER: Final = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class BenchTrust:
    """What the bench knows about the PKI it installed: the root and the issuing CAs (DER)."""

    root: bytes
    intermediates: tuple[bytes, ...]
    # the GBCS keys of the same PKI (remote parties, devices, the GPF): what the host MACs, signs and
    # verifies with when it plays the remote parties on this bench
    keystore: gbcs.Keystore | None = field(default=None, compare=False, repr=False)
    # organisation certificates (DER) by ``<org>-<DS|KA>``: what a bench CS02b can place
    organisations: Mapping[str, bytes] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class NetworkSettings:
    """A radio's network parameters as a rig file gives them (all optional)."""

    channel: int | None = None
    pan_id: int | None = None
    extended_pan_id: str | None = None
    network_key: bytes | None = None


# ------------------------------------------------------------------------------ the bench PKI
@functools.lru_cache(maxsize=4)
def _bench_pki(devices: tuple[tuple[str, str], ...], seed: int) -> TestPki:
    return make_test_pki(devices=devices, seed=seed)


def expired_copy(pki: TestPki, name: str) -> bytes:
    """Organisation certificate ``name`` (e.g. ``supplier-DS``) re-issued with a validity that has ended."""
    issued = pki.organisations[name]
    original = issued.certificate
    builder = (x509.CertificateBuilder().subject_name(original.subject).issuer_name(original.issuer)
               .public_key(original.public_key()).serial_number(original.serial_number + 2)
               .not_valid_before(EXPIRED_NOT_BEFORE).not_valid_after(EXPIRED_NOT_AFTER))
    for extension in original.extensions:
        builder = builder.add_extension(extension.value, extension.critical)
    signed = builder.sign(pki.org_ca.key, hashes.SHA256(), ecdsa_deterministic=True)
    return signed.public_bytes(serialization.Encoding.DER)


def _fault_cells(pki: TestPki, fault: CredentialsFault) -> dict[str, bytes]:
    if fault is CredentialsFault.WRONG_NETWORK_OPERATOR:
        return {cell.name: cell.der for cell in pki.meter_cells(network_operator="wrongNetworkOperator")
                if cell.remote_party_role is CertRole.NETWORK_OPERATOR}
    if fault is CredentialsFault.EXPIRED:
        return {"supplier-DS-management": expired_copy(pki, "supplier-DS")}
    return {}


GPF_DEVICE: Final = ("GPF", HUB[1])  # the hub's GPF: its Entity ID is the coordinator's EUI-64 here
# The hub's Communications Hub Function, a separate entity with its own keys (it signs CCS08 alerts):
# our rule for the bench, the coordinator's EUI-64 with 0xff in the next-to-last octet.
CHF_DEVICE: Final = ("CHF", HUB[1][:-5] + "ff:00")


def bench_keystore(devices: Iterable[tuple[str, str]], seed: int = 1) -> gbcs.Keystore:
    """The GBCS keys of the bench's TEST-ONLY PKI (every organisation and ``devices``' own keys): what the
    host uses to play the remote parties (MAC, sign, verify) on the simulated bench."""
    keystore = gbcs.Keystore()
    keystore.add_test_pki(_bench_pki(tuple(devices), seed))
    return keystore


def meter_keystore(pki: TestPki, eui64: str) -> gbcs.Keystore:
    """What a simulated meter holds: its own DS/KA key pairs and the organisations' public keys only."""
    keystore = gbcs.Keystore()
    own = pki.device(eui64)
    eui = eui64_bytes(own.eui64)
    keystore.add_private_key(eui, gbcs.KeyUse.DS, own.digital_signature.key)
    keystore.add_private_key(eui, gbcs.KeyUse.KA, own.key_agreement.key)
    for label, issued in pki.organisations.items():
        org, usage = label.rsplit("-", 1)
        org_eui = eui64_bytes(ENTITY_IDS[org])
        keystore.add_public_key(org_eui, gbcs.KeyUse.DS if usage == "DS" else gbcs.KeyUse.KA,
                                issued.key.public_key())
    return keystore


def _gbcs_meter_factory(pki: TestPki, eui64: str, cells: Mapping[str, bytes],
                        fault: str) -> Callable[[], GbcsMeter]:
    """A fresh GBCS side for a simulated meter at each boot (its counters start again, as after a reset
    of a meter that keeps none; its keys and cells stay)."""
    keystore = meter_keystore(pki, eui64)
    acb = eui64_bytes(ENTITY_IDS["accessControlBroker"])
    supplier = eui64_bytes(ENTITY_IDS["supplier"])
    details = cells_from_certificates(cells)
    eui = eui64_bytes(eui64)

    def new_key(usage: str, made: int) -> ec.EllipticCurvePrivateKey:
        return derive_key(pki.seed, f"meter-{eui.hex()}-cs02c-{usage}-{made}")

    def make() -> GbcsMeter:
        return GbcsMeter(eui, gbcs.Security(keystore, access_control_broker=acb), list(details),
                         fault=MeterFault(fault), alert_target=supplier, new_key=new_key)

    return make


def bench_credentials(config: SimConfig, *, seed: int = 1) -> tuple[SimConfig, BenchTrust]:
    """``config`` with the TEST-ONLY PKI's cells and device certificates installed on every ESME that has
    none configured, and the bytes its ``credentials_fault`` needs; plus the PKI's root and CAs."""
    devices = (*((spec.role.value, str(spec.eui64)) for spec in config.devices), GPF_DEVICE, CHF_DEVICE)
    pki = _bench_pki(devices, seed)
    specs: list[DeviceSpec] = []
    for spec in config.devices:
        if spec.role is Role.ESME:
            sim = spec.sim
            changes: dict[str, Any] = {}
            if not sim.trust_anchors:
                changes["trust_anchors"] = {cell.name: cell.der for cell in pki.meter_cells()}
            if not sim.device_certificates:
                own = pki.device(str(spec.eui64))
                changes["device_certificates"] = {"DS": own.digital_signature.der,
                                                  "KA": own.key_agreement.der}
            if not sim.fault_cells:
                changes["fault_cells"] = _fault_cells(pki, sim.credentials_fault)
            sim = dataclasses.replace(sim, **changes)
            installed = faulty_cells(sim.trust_anchors, sim.credentials_fault, sim.fault_cells)
            sim = dataclasses.replace(sim, gbcs_meter=_gbcs_meter_factory(
                pki, str(spec.eui64), installed, str(sim.gbcs_fault)))
            spec = dataclasses.replace(spec, sim=sim)
        elif spec.role is Role.GSME and spec.sim.gbcs_meter is None:
            # the GSME's GBCS side, over the tunnel it opens to the hub: its own keys, the PKI's cells
            cells = {cell.name: cell.der for cell in pki.meter_cells()}
            spec = dataclasses.replace(spec, sim=dataclasses.replace(spec.sim, gbcs_meter=_gbcs_meter_factory(
                pki, str(spec.eui64), cells, str(spec.sim.gbcs_fault))))
        specs.append(spec)
    return config.replace(devices=tuple(specs)), bench_trust(devices, seed)


def bench_trust(devices: tuple[tuple[str, str], ...], seed: int) -> BenchTrust:
    """The trust of the bench PKI issued for ``devices`` (role, EUI-64) from ``seed``."""
    pki = _bench_pki(devices, seed)
    return BenchTrust(pki.root.der, (pki.org_ca.der, pki.device_ca.der), bench_keystore(devices, seed),
                      {label: issued.der for label, issued in pki.organisations.items()})


def linked_bench_trust(sim: SimControl) -> BenchTrust:
    """The trust of a virtual stick's bench, from what its control link says the bench was built from
    (seed and devices): the same TEST-ONLY PKI the stick installed, as a lab knows its test PKI."""
    seed, devices = sim.bench()
    return bench_trust((*devices, GPF_DEVICE, CHF_DEVICE), seed)


# ------------------------------------------------------------------------------ radios
def _radio_config(network: NetworkSettings, *, install_codes: Mapping[str, bytes] = {},
                  sim: SimConfig | None = None) -> hal.RadioConfig:
    return hal.RadioConfig(
        channel=network.channel, pan_id=network.pan_id,
        extended_pan_id=(zigpy_t.EUI64.convert(network.extended_pan_id)
                         if network.extended_pan_id is not None else None),
        network_key=network.network_key,
        install_codes={zigpy_t.EUI64.convert(eui64): code for eui64, code in install_codes.items()},
        sim=sim,
    )


def radio_endpoint(radio_id: str, url: str, network: NetworkSettings = NetworkSettings(), *,
                   simulated: bool, install_codes: Mapping[str, bytes] = {},
                   document: Mapping[str, Any] | None = None, source: str = "<rig>",
                   base: Path | None = None) -> tuple[RadioEndpoint, BenchTrust | None]:
    """One radio of a rig as the gateway opens it. A simulated radio gets its bench from the rig file's
    TOML ``document`` (or the default bench when there is none) with the bench PKI installed, and the
    trust that PKI needs to verify; a real radio only its network parameters and install codes."""
    sim = trust = None
    if simulated:
        sim = parse_sim_config(document, source=source, base=base, radio_id=radio_id) if document \
            else default_bench()
        sim, trust = bench_credentials(sim, seed=sim.settings.seed)
    config = _radio_config(network, install_codes=install_codes, sim=sim)
    return RadioEndpoint(id=radio_id, url=url, config=config), trust


def bench_radio_config(radio_url: str) -> tuple[hal.RadioConfig | None, BenchTrust | None]:
    """For a ``sim://`` URL: the radio config with the bench's TEST-ONLY PKI installed, and that PKI's
    trust; for a real radio: (None, None)."""
    parsed = hal.parse_radio_url(radio_url)
    if not parsed.is_sim:
        return None, None
    from hal.radio import sim_config_for

    sim, trust = bench_credentials(sim_config_for(parsed, hal.RadioConfig()))
    return hal.RadioConfig(sim=sim), trust


def bench_sim_config(rig_path: Path | None) -> tuple[SimConfig, BenchTrust]:
    """A rig file's simulated bench (or the default one) with the bench PKI on its ESMEs, and that PKI's
    trust (what ``hanrig sim stick`` serves)."""
    config = load_sim_config(rig_path) if rig_path is not None else default_bench()
    return bench_credentials(config, seed=config.settings.seed)


def virtual_han(config: SimConfig, network: NetworkSettings = NetworkSettings()) -> VirtualHan:
    """The simulated HAN a virtual EZSP stick serves, on the rig's simulated radio's network."""
    from hal.radio import network_params
    from hal.sim.han import VirtualHan

    return VirtualHan(config, network_params(_radio_config(network)))


def check_sim_tables(document: Mapping[str, Any], *, source: str, base: Path, text: str) -> None:
    """Check a rig file's simulator tables ([sim], [devices.sim], [[faults]]) as the simulator reads
    them, when the rig is loaded; a bad value is a SimConfigError naming file:line and key path."""
    from hal.sim.config import parse_sim_config

    parse_sim_config(document, source=source, base=base, text=text)

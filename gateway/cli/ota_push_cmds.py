"""``hanrig ota push`` and ``hanrig ota activate`` (contract: shared ``cli.md``), over ``gw.ota``.

``push`` updates the devices named by ``--device``, ``--role`` or ``--all`` (the image named by
``--image``, or the catalogue's newest newer image), draws one progress bar per device on stderr
(bytes, %, B/s, ETA; B/s on the radio's clock, which is simulated time on ``sim://``) and prints one
outcome per device, or one JSON document with ``--json``. Exit 0 when every device ended well, 1 when
one was refused or failed, 3 when one could not be reached. ``activate`` is activate-by-hash (CS06):
exit 1 with ``noImageHeld`` / ``hashMismatch`` / ``activationFailure``.

Rig ``[policies]`` (``signatures_required``, ``activation``, ``allow_downgrade``) apply on
``sim://?rig=FILE``; options override them. Cheap to import: zigpy and the gateway load inside the commands.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import click

from hanrig_errors import CPL_MAX, OTA_IMAGE_MAX, read_input

from .common import (
    CERT_FILE,
    EUI64,
    EXISTING_DIR,
    IMAGE_FILE,
    InputFileType,
    emit,
    json_option,
    radio_option,
    shown,
)

ROLES = ("IHD", "PPMID", "HCALCS", "ESME", "GSME")
# ota.negative.NegativeCase values, spelled here so that --help does not import the OTA library
NEGATIVE_CASE_NAMES = ("wrong-manufacturer", "wrong-image-type", "hardware-out-of-range", "older-version",
                       "corrupted-image", "unknown-supplier", "truncated", "power-loss")


def _render_push(doc: dict[str, Any]) -> str:
    lines = []
    for d in doc["devices"]:
        versions = f"{shown(d['version_before'])} -> {shown(d['version_after'])}"
        rate = f", {d['mean_bps']:.0f} B/s (min {d['min_bps'] or 0:.0f})" if d["mean_bps"] else ""
        took = f" {d['bytes_sent']} B in {d['duration_s']:.1f} s{rate}, {d['retries']} retries" \
            if d["duration_s"] else ""
        code = f" [{d['reason_code']}: CCS08 {d['code']}]" if d["code"] else f" [{d['reason_code']}]"
        who = f"{d['device']} ({shown(d['role'])})"
        lines.append(f"{who}: {d['phase']}{code} {versions}{took}: {d['reason']}")
    lines.append(f"activation {doc['activation']}: {'ok' if doc['ok'] else 'NOT ok'}")
    return "\n".join(lines)


@click.command("push")
@radio_option
@click.option("--device", "devices", multiple=True, type=EUI64, help="A device by EUI-64 (repeatable).")
@click.option("--role", type=click.Choice(ROLES, case_sensitive=False), help="Every joined device of a role.")
@click.option("--all", "all_devices", is_flag=True, help="Every joined device with an OTA client.")
@click.option("--image", type=IMAGE_FILE,
              help="The OTA file to send (default: the catalogue's newest newer image per device).")
@click.option("--activate", "activation", metavar="now|hold|at:ISO8601",
              help="When devices run the image (default: the rig's policy, else now).")
@click.option("--allow-downgrade", is_flag=True, default=None,
              help="Allow an older image than the device runs.")
@click.option("--catalogue", type=EXISTING_DIR,
              help="Image directory (default: the bundled TEST-ONLY samples).")
@click.option("--supplier-cert", type=CERT_FILE,
              help="Supplier signing certificate or public key that images must verify against.")
@click.option("--cpl", "cpl_file", type=InputFileType(CPL_MAX),
              help="Central Products List (CSV: manufacturer, model, firmware_version, hash; or hashes): "
                   "an image it does not list for the device is refused before a byte is sent.")
@click.option("--allow-test-keys", is_flag=True,
              help="Push images signed with the published TEST-ONLY key to a real radio too (recorded).")
@click.option("--negative", "negative_case", type=click.Choice(NEGATIVE_CASE_NAMES),
              help="SECMP0007 negative test: offer the bad image of this case (made from --image or the "
                   "catalogue's image) and expect the device to refuse it as the OTA cluster defines.")
@click.option("--no-progress", is_flag=True, help="No progress bars on stderr.")
@json_option
def push(radio_url: str, devices: tuple[str, ...], role: str | None, all_devices: bool, image: Path | None,
         activation: str | None, allow_downgrade: bool | None, catalogue: Path | None,
         supplier_cert: Path | None, cpl_file: Path | None, allow_test_keys: bool, negative_case: str | None,
         no_progress: bool, as_json: bool) -> None:
    """Send firmware to devices and activate it (now, at a UTC time, or hold for 'ota activate')."""
    chosen = sum((bool(devices), role is not None, all_devices))
    if chosen != 1:
        raise click.UsageError("name the devices with exactly one of --device, --role or --all")
    if negative_case is not None and (len(devices) != 1 or activation or allow_downgrade):
        raise click.UsageError("--negative takes exactly one --device, and neither --activate nor "
                               "--allow-downgrade")
    plan = None
    if activation is not None:
        from ota.server import ActivationPlan

        try:
            plan = ActivationPlan.parse(activation)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--activate") from None

    import hal
    from gateway.exceptions import OtaDevicesUnreachable, OtaPushFailed
    from gateway.ota import read_cpl
    from gateway.progress import progress_display
    from gateway.session import Gateway, RadioEndpoint
    from ota import read_image

    from .policy_opts import apply_rig_cbke, rig_policies

    overrides: dict[str, Any] = {"allow_test_keys": allow_test_keys}
    if cpl_file is not None:
        overrides["cpl"] = read_cpl(cpl_file)
    if catalogue is not None:
        overrides["catalogue"] = catalogue
    if supplier_cert is not None:
        overrides["supplier_key"] = supplier_cert
    policies = dataclasses.replace(rig_policies(radio_url).ota, **overrides)
    firmware = None
    if image is not None:
        firmware = read_image(read_input(image, limit=OTA_IMAGE_MAX), name=str(image))
    if negative_case is not None:
        _push_negative(radio_url, devices[0], negative_case, policies, firmware, as_json)
        return

    async def run() -> Any:
        async with Gateway.open([RadioEndpoint("radio0", radio_url)]) as gw:
            apply_rig_cbke(gw, radio_url)
            gw.ota.policies = policies
            if devices:
                targets = [gw.device(eui64) for eui64 in devices]
            elif role is not None:
                targets = gw.devices(role=role.upper())
                if not targets:
                    from gateway.exceptions import DeviceNotFound

                    raise DeviceNotFound(role.upper(), "no joined device has this role")
            else:
                targets = None
            labels = {d.eui64: f"{d.id if d.id != d.eui64 else (d.role or 'unknown role')} {d.eui64}"
                      for d in gw.devices()}
            if no_progress:
                return await gw.ota.push(targets, image=firmware, activation=plan,
                                         allow_downgrade=allow_downgrade)
            waiting = [d.eui64 for d in (targets or gw.devices())]
            with progress_display() as display:
                bars = display.ota_transfers(labels, waiting)
                return await gw.ota.push(targets, image=firmware, activation=plan,
                                         allow_downgrade=allow_downgrade,
                                         on_progress=bars.sample, on_outcome=bars.outcome)

    report = hal.run(run, radio_url)
    document = {"radio": radio_url, "allow_test_keys": allow_test_keys, **report.to_json()}
    emit(document, as_json, _render_push)
    failed = [o for o in report.outcomes if not o.ok]
    if report.unreachable:
        names = "; ".join(f"{o.device_id}: {o.reason}" for o in report.unreachable)
        raise OtaDevicesUnreachable(f"ota push: {len(report.unreachable)} device(s) unreachable: {names}")
    if failed:
        names = "; ".join(f"{o.device_id}: {o.reason}" for o in failed)
        raise OtaPushFailed(f"ota push: {len(failed)} of {len(report.outcomes)} device(s) failed: {names}")


def _push_negative(radio_url: str, eui64: str, case: str, policies: Any, firmware: Any,
                   as_json: bool) -> None:
    """One negative case on one device; exit 0 when the device refused as expected, 1 when it did not."""
    import hal
    from gateway.exceptions import OtaPushFailed
    from gateway.session import Gateway, RadioEndpoint

    from . import policy_opts

    async def run() -> Any:
        async with Gateway.open([RadioEndpoint("radio0", radio_url)]) as gw:
            policy_opts.apply_rig_cbke(gw, radio_url)
            gw.ota.policies = policies
            return await gw.ota.push_negative(gw.device(eui64), case, image=firmware)

    outcome = hal.run(run, radio_url)
    emit({"radio": radio_url, **outcome.to_json()}, as_json, _render_negative)
    if not outcome.passed:
        raise OtaPushFailed(f"ota push --negative {case}: {outcome.device_id}: {outcome.reason}")


def _render_negative(doc: dict[str, Any]) -> str:
    verdict = "PASS" if doc["passed"] else "FAIL"
    return (f"{doc['device']} ({shown(doc['role'])}) negative {doc['case']}: {verdict}: expected "
            f"{doc['expected']} ({doc['clause']}), observed {doc['observed']} [{doc['reason_code']}]\n"
            f"  image: {doc['note']}\n  {doc['reason']}")


def _render_activation(doc: dict[str, Any]) -> str:
    return (f"{doc['device']}: {doc['response']} (running {shown(doc['running_version'])}, held "
            f"{doc['held_version'] or 'nothing'}): {doc['reason']}")


@click.command("activate")
@radio_option
@click.option("--device", required=True, type=EUI64, help="The device, by EUI-64.")
@click.option("--hash", "sha256", required=True, metavar="SHA256",
              help="SHA-256 of the manufacturer image to run (index.json manufacturer_image_sha256).")
@click.option("--at", "at", metavar="ISO8601", help="Run it at this UTC time instead of now.")
@json_option
def activate(radio_url: str, device: str, sha256: str, at: str | None, as_json: bool) -> None:
    """Activate the image a device holds, by its hash: a meter (ESME, GSME) by a GBCS CS06 signed by the
    bench's Supplier, a HAN device by ZCL OTA Upgrade End (GBCS CS06 semantics)."""
    moment = None
    if at is not None:
        try:
            moment = dt.datetime.fromisoformat(at.replace("Z", "+00:00"))
        except ValueError:
            raise click.BadParameter(f"{at!r} is not an ISO 8601 time", param_hint="--at") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)

    import hal
    from gateway.bench import bench_radio_config
    from gateway.exceptions import ActivationRefused
    from gateway.session import Gateway, RadioEndpoint

    from . import policy_opts

    # on sim:// the bench's meters carry its TEST-ONLY PKI: a meter's activation is a signed CS06
    radio_config, _trust = bench_radio_config(radio_url)

    async def run() -> Any:
        async with Gateway.open([RadioEndpoint("radio0", radio_url, radio_config)]) as gw:
            policy_opts.apply_rig_cbke(gw, radio_url)
            return await gw.ota.activate(device, sha256, at=moment)

    report = hal.run(run, radio_url)
    emit({"radio": radio_url, **report.to_json()}, as_json, _render_activation)
    if not report.ok:
        raise ActivationRefused(f"ota activate: {report.eui64}: {report.response.label}: {report.reason}")

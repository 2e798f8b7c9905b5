"""``hanrig alerts watch``: device alerts as the hub forwards them under SECMP0062 storm protection.

Opens the radio as a gateway session, starts alert intake (``gw.alerts``) and watches for ``--for``
seconds (on ``sim://``, simulated seconds). Text mode prints each forwarded alert and each throttle
report as it happens, then the counts; ``--json`` prints one document at the end. The throttling
numbers come from the options, else the rig file's ``[policies] alerts`` (``sim://?rig=FILE``), else
hanrig's defaults (window 60 s, threshold 10, forward period 300 s, nothing excluded).

The summary gives the counts per (device, alert code): received / forwarded / throttled / excluded and
the suppressed count still pending, and the alerts refused (not acted on) by reason: under ``[policies]
require_cbke`` a Type 1 device without a CBKE key gets no SE service, so its alerts are refused
(``no-key-establishment``) yet counted. On a radio with a data dir (every real radio: ``$HANRIG_DATA_DIR``)
they are the persisted counts, over every run since the count file was made, and an open episode is
left pending for the next run rather than flushed; on ``sim://`` they cover this run only, and pending
counts are reported at the end. ``se_refused`` is the session's one record of SE service refused for
want of a CBKE key, per device and service (``gw.cbke.refusals``: alerts, gas pushes, tunnel frames...).
"""

from __future__ import annotations

import asyncio
from typing import Any

import click

import hal
from hanrig_errors import HanrigError

from .common import emit, json_option, radio_option, shown
from .policy_opts import apply_rig_cbke, rig_policies


@click.group()
def alerts() -> None:
    """Device alerts with storm protection (SECMP0062)."""


def _line(event: dict[str, Any]) -> str:
    if event["kind"] == "alert":
        via = ("GBCS alert (tunnel)" if event.get("intake") == "gbcs"
               else f"ZCL alarm on cluster {event['cluster']}")
        text = f"{event['at']}  {event['device']} ({shown(event['role'])})  alert {event['alert_code']} {via}"
        if event["throttled_alert_sequence_id"] is not None:
            since = f" since {event['throttled_since']}" if event.get("throttled_since") else ""
            text += (f"  [throttled: sequence {event['throttled_alert_sequence_id']},"
                     f" {event['throttled_alert_count']} suppressed{since}]")
        return text
    ended = ", episode ended" if event["episode_ended"] else ""
    return (f"{event['at']}  {event['device']}  alert {event['alert_code']}: sequence "
            f"{event['throttled_alert_sequence_id']}, {event['throttled_alert_count']} suppressed{ended}")


def _render_summary(document: dict[str, Any]) -> str:
    counts = document["counts"]
    return (f"{counts['received']} alert(s) received in {document['for_s']:g} s: "
            f"{counts['forwarded']} forwarded, {counts['suppressed']} suppressed "
            f"({counts['episodes']} throttling episode(s))"
            + (f", {counts['refused']} refused" if counts.get("refused") else "") + "; "
            f"{document['malformed_frames']} malformed frame(s) ignored"
            + "".join(f"\n  {row['device']} alert {row['alert_code']}: {row['received']} received, "
                      f"{row['forwarded']} forwarded, {row['throttled']} throttled, "
                      f"{row['excluded']} excluded, {row['pending']} pending"
                      + "".join(f", {n} refused ({reason})" for reason, n in row["refused_by_reason"].items())
                      for row in document["per_code"])
            + ("\n  (persisted counts, across runs)" if document["persisted"] else "")
            + "".join(f"\n  {device}: SE service refused: "
                      + ", ".join(f"{service} {n}" for service, n in row["refused"].items())
                      + f" ({row['reason']})" for device, row in document["se_refused"].items()))


@alerts.command("watch")
@radio_option
@click.option("--for", "for_s", type=click.FloatRange(min=0.0), default=60.0, show_default=True,
              help="Seconds to watch.")
@click.option("--window", "window_s", type=click.FloatRange(min=0.001), help="Sliding window, seconds.")
@click.option("--threshold", type=click.IntRange(min=1),
              help="Alerts of one code per window before throttling.")
@click.option("--forward-period", "forward_period_s", type=click.FloatRange(min=0.001),
              help="While throttled, one copy per this many seconds.")
@click.option("--exclude", multiple=True, metavar="CODE", help="Alert code never throttled (repeatable).")
@json_option
def watch(radio_url: str, for_s: float, window_s: float | None, threshold: int | None,
          forward_period_s: float | None, exclude: tuple[str, ...], as_json: bool) -> None:
    """Watch device alerts for --for seconds, throttled per (device, alert code)."""
    from gateway.alerts import AlertPolicy, parse_codes
    from gateway.session import Gateway

    hal.parse_radio_url(radio_url)
    rig = rig_policies(radio_url).alerts
    policy = AlertPolicy(
        window_s=window_s if window_s is not None else rig.window_s,
        threshold=threshold if threshold is not None else rig.threshold,
        forward_period_s=forward_period_s if forward_period_s is not None else rig.forward_period_s,
        exclude=parse_codes(exclude, "--exclude") if exclude else frozenset(rig.exclude),
    )

    async def run() -> dict[str, Any]:
        events: list[dict[str, Any]] = []

        def record(event: Any) -> None:
            document = event.as_dict()
            events.append(document)
            if not as_json:
                click.echo(_line(document))

        from gateway.bench import bench_radio_config
        from gateway.session import RadioEndpoint
        from hal.roles import Role

        radio_config, trust = bench_radio_config(radio_url)
        async with Gateway.open([RadioEndpoint("radio", radio_url, radio_config)]) as gw:
            apply_rig_cbke(gw, radio_url)
            service = gw.alerts
            service.configure(policy)
            service.subscribe(record)
            if trust is not None and trust.keystore is not None:
                gw.gbcs.use_keystore(trust.keystore)
            for meter in gw.devices(Role.ESME):  # GB meters' alerts come as GBCS through the tunnel
                try:
                    await service.watch_gbcs(meter)
                except HanrigError as exc:
                    click.echo(f"{meter.eui64}: no GBCS alert intake ({exc}); ZCL alarms only", err=True)
            await asyncio.sleep(for_s)
            if not service.durable:  # nothing would keep them: report them now
                service.flush(force=True)
            return {
                "radio": radio_url,
                "for_s": for_s,
                "policy": {
                    "window_s": policy.window_s,
                    "threshold": policy.threshold,
                    "forward_period_s": policy.forward_period_s,
                    "exclude": [f"0x{code:04x}" for code in sorted(policy.exclude)],
                },
                "counts": service.stats(),
                "persisted": service.durable,
                "per_code": [
                    {"device": device, "alert_code": f"0x{code:04x}", **counts}
                    for (device, code), counts in service.counts().items()
                ],
                "malformed_frames": service.input_stats().malformed,
                "se_refused": gw.cbke.refusals.to_json(),
                "events": events,
            }

    emit(hal.run(run, radio_url), as_json, _render_summary)

"""Every command that opens a radio takes ``--capture FILE.pcapng`` (and ``rig run`` and ``sim stick``)."""

from __future__ import annotations

import click

from gateway.cli import cli


def _commands(group: click.Group, ctx: click.Context, path: str = "hanrig"):
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is None:
            continue
        yield f"{path} {name}", command
        if isinstance(command, click.Group):
            yield from _commands(command, ctx, f"{path} {name}")


def test_every_command_with_a_radio_takes_capture() -> None:
    ctx = click.Context(cli)
    with_radio = []
    for path, command in _commands(cli, ctx):
        options = {opt for param in command.params for opt in getattr(param, "opts", [])}
        if "--radio" in options:
            with_radio.append(path)
            assert "--capture" in options, f"{path} opens a radio but takes no --capture"
    assert len(with_radio) >= 15  # radio info, devices, network *, ota push, gas read, certs verify, ...
    for path in ("hanrig rig run", "hanrig sim stick"):
        command = dict(_commands(cli, ctx))[path]
        assert "--capture" in {opt for param in command.params for opt in getattr(param, "opts", [])}, path

"""The ``hanrig`` command line: the one face of the tool (contract: shared ``cli.md``).

Each command group lives in its own module and is imported only when used, so ``hanrig ota inspect``
does not pay for importing zigpy. Errors are mapped to exit codes here and nowhere else:
0 done, 1 check failed, 2 bad usage/input, 3 unreachable/timeout. Tracebacks only with ``--debug``.
"""

from __future__ import annotations

import importlib
import logging
import sys

import click

from hanrig_errors import HanrigError

from .. import __version__

# name -> (module, attribute). A module appears here once it exists; see LazyGroup.get_command.
COMMANDS: dict[str, tuple[str, str]] = {
    "radio": ("gateway.cli.radio_cmds", "radio"),
    "devices": ("gateway.cli.devices_cmds", "devices"),
    "ota": ("gateway.cli.ota_cmds", "ota"),
    "gas": ("gateway.cli.gas_cmds", "gas"),
    "certs": ("gateway.cli.certs_cmds", "certs"),
    "gbcs": ("gateway.cli.gbcs_cmds", "gbcs"),
    "hcalcs": ("gateway.cli.hcalcs_cmds", "hcalcs"),
    "alerts": ("gateway.cli.alerts_cmds", "alerts"),
    "rig": ("gateway.cli.rig_cmds", "rig"),
    "results": ("gateway.cli.results_cmds", "results"),
    "sim": ("gateway.cli.sim_cmds", "sim"),
    "tenancy": ("gateway.cli.tenancy_cmds", "tenancy"),
    "network": ("gateway.cli.network_cmds", "network"),
}


class LazyGroup(click.Group):
    """A group whose sub-commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name in COMMANDS if self.get_command(ctx, name) is not None)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attribute = target
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:  # that command group is not part of this build
                return None
            raise
        return getattr(module, attribute)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hanrig")
@click.option("-v", "--verbose", count=True, help="More log output on stderr (-vv for debug).")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.pass_context
def cli(ctx: click.Context, verbose: int, debug: bool) -> None:
    """hanrig: the GB smart-metering HAN bench host (Comms Hub HAN side on a Zigbee stick or sim://)."""
    level = logging.WARNING - 10 * verbose
    logging.basicConfig(level=max(level, logging.DEBUG), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the CLI and map every outcome to an exit code."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        # without standalone mode click returns a command's ``ctx.exit(N)`` / ``Exit(N)`` code
        returned = cli.main(args=args, prog_name="hanrig", standalone_mode=False)
        if isinstance(returned, int) and returned:
            sys.exit(returned)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("hanrig: aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except HanrigError as exc:
        if debug:
            logging.getLogger("hanrig").exception("error")
        click.echo(f"hanrig: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("hanrig: interrupted", err=True)
        sys.exit(130)
    except OSError as exc:  # unreadable path, permission denied, ...
        if debug:
            logging.getLogger("hanrig").exception("error")
        target = f"{exc.filename}: " if exc.filename else ""
        click.echo(f"hanrig: error: {target}{exc.strerror or exc}", err=True)
        sys.exit(2)
    except Exception as exc:
        if debug:
            raise
        click.echo(f"hanrig: internal error: {type(exc).__name__}: {exc} "
                   "(re-run with --debug for a traceback)", err=True)
        sys.exit(70)
    sys.exit(0)

"""The ``hanrig`` command line: the one face of the tool (contract: shared ``cli.md``).

Each command group lives in its own module and is imported only when used, so ``hanrig ota inspect``
does not pay for importing zigpy. Errors are mapped to exit codes here and nowhere else:
0 done, 1 check failed, 2 bad usage/input, 3 unreachable/timeout, 130 interrupted; nothing else, not
even for an error nobody foresaw (:func:`exit_code_for`). Every error is one line on stderr (click's
usage errors too, with a pointer to ``--help``); with ``--json`` it is also one JSON document
``{"error": ..., "exit": N}`` on stdout, unless the command already printed its document. Tracebacks
only with ``--debug``: without it, log records lose their tracebacks too (zigpy and bellows log some
while shutting a dead radio down).
"""

from __future__ import annotations

import importlib
import json
import logging
import sys

import click

from hanrig_errors import HanrigError

from .. import __version__
from . import common

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


class _NoTracebacks(logging.Filter):
    """Keep a log record's message but drop its traceback (tracebacks are for ``--debug``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info or record.exc_text or record.stack_info:
            detail = record.exc_info[1] if record.exc_info else None
            record.exc_info = None
            record.exc_text = None
            record.stack_info = None
            if detail is not None:
                record.msg = f"{record.getMessage()} ({type(detail).__name__}: {detail})"
                record.args = ()
        return True


_NO_TRACEBACKS = _NoTracebacks()


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
    if not debug:
        for handler in logging.getLogger().handlers:
            handler.addFilter(_NO_TRACEBACKS)
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


# Exceptions from the radio libraries (and the OS's network errors) mean the radio or device did not
# answer: exit 3. Matched by module so that ``hanrig ota inspect`` need not import zigpy to map them.
_RADIO_LIBRARY_MODULES = ("zigpy", "bellows", "zigpy_znp", "zigpy_deconz", "serial", "serialx")


def exit_code_for(exc: BaseException) -> int:
    """The exit code an error maps to (cli.md): always one of 1, 2, 3 or 130."""
    if isinstance(exc, KeyboardInterrupt | click.Abort):
        return 130
    if isinstance(exc, HanrigError):
        return exc.exit_code if exc.exit_code in (1, 2, 3, 130) else 2  # RunAborted: 130
    if isinstance(exc, click.ClickException):
        return 2  # click's own errors are all about how the command was called
    if isinstance(exc, ConnectionError | TimeoutError):
        return 3
    module = type(exc).__module__.partition(".")[0]
    if module in _RADIO_LIBRARY_MODULES:
        return 3
    return 2  # an OSError on a path the user gave, or bad input nobody foresaw


def error_message(exc: BaseException, command_path: str | None = None) -> str:
    """The one line an error prints (without the ``hanrig: error:`` prefix)."""
    if isinstance(exc, click.UsageError):
        where = command_path or "hanrig"
        return f"{exc.format_message()} (see '{where} --help')"
    if isinstance(exc, click.ClickException):
        return exc.format_message()
    if isinstance(exc, HanrigError):
        return str(exc)
    if isinstance(exc, OSError) and not isinstance(exc, ConnectionError | TimeoutError):
        target = f"{exc.filename}: " if exc.filename else ""
        return f"{target}{exc.strerror or exc}"
    text = str(exc)
    if exit_code_for(exc) == 3:
        return f"radio or device did not answer: {type(exc).__name__}{': ' + text if text else ''}"
    return (f"unexpected {type(exc).__name__}{': ' + text if text else ''} "
            "(a hanrig bug: re-run with --debug for a traceback and report it)")


def _report(exc: BaseException, as_json: bool, debug: bool) -> int:
    code = exit_code_for(exc)
    ctx = getattr(exc, "ctx", None)
    message = error_message(exc, ctx.command_path if ctx is not None else None)
    if debug and not isinstance(exc, click.ClickException | KeyboardInterrupt | click.Abort):
        logging.getLogger("hanrig").error("traceback", exc_info=exc)
    prefix = "hanrig: interrupted" if code == 130 else "hanrig: error"
    # an interrupt says only that, unless hanrig said what it left behind (RunAborted: how to resume)
    said = code != 130 or isinstance(exc, HanrigError)
    click.echo(f"{prefix}: {message}" if said else prefix, err=True)
    if as_json and not common.document_emitted():
        click.echo(json.dumps({"error": message if said else "interrupted", "exit": code}))
    return code


def _wants_json(args: list[str]) -> bool:
    options = args[: args.index("--")] if "--" in args else args
    return "--json" in options


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the CLI and map every outcome to an exit code."""
    args = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in args
    common.reset_emitted()
    try:
        # without standalone mode click returns a command's ``ctx.exit(N)`` / ``Exit(N)`` code
        returned = cli.main(args=args, prog_name="hanrig", standalone_mode=False)
        if isinstance(returned, int) and returned:
            sys.exit(returned)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code if exc.exit_code in (0, 1, 2, 3, 130) else 2)
    except SystemExit:
        raise
    except BaseException as exc:
        sys.exit(_report(exc, _wants_json(args), debug))
    finally:
        for handler in logging.getLogger().handlers:  # main() may run again in this process (tests)
            handler.removeFilter(_NO_TRACEBACKS)
    sys.exit(0)

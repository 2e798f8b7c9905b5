"""Operator prompts: a test asks the person at the bench to act and waits for confirmation (OpenHTF's
habit), with a timeout; on ``sim://`` the simulator does the matching action instead, so the same plan
runs unattended.

A :class:`Prompt` names an :class:`Action` ("power-cycle the IHD", "press the join button") and the
device. :class:`ConsoleOperator` prints the instruction on stderr and waits for Enter on stdin;
:class:`SimulatedOperator` performs the action on the virtual device (a reboot, a rejoin) and answers at
once. :func:`operator_for` picks the simulator for a device on a ``sim://`` radio and the console (or
the given operator) otherwise.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import sys
import threading
from typing import IO, Any, Protocol

from hanrig_errors import Unreachable


class Action(enum.StrEnum):
    POWER_CYCLE = "power-cycle"  # remove and restore the device's power
    PRESS_JOIN = "press-join"  # make the device (re)join: its join button


INSTRUCTIONS = {
    Action.POWER_CYCLE: "power-cycle {device} now (remove its power, restore it)",
    Action.PRESS_JOIN: "press the join button on {device}",
}


class OperatorTimeout(Unreachable):
    """Nobody confirmed the prompt in time (exit 3: the bench, not the device, is unavailable)."""


@dataclasses.dataclass(frozen=True)
class Prompt:
    action: Action
    device: Any  # gateway.session.HanDevice
    timeout_s: float = 300.0

    @property
    def text(self) -> str:
        role = self.device.role.value if self.device.role else "device"
        named = self.device.id if self.device.id != self.device.eui64 else ""
        who = f"{named} ({role} {self.device.eui64})" if named else f"the {role} {self.device.eui64}"
        return INSTRUCTIONS[self.action].format(device=who)


class Operator(Protocol):
    """Whoever answers prompts: :meth:`ask` returns when the action was done, raises OperatorTimeout."""

    async def ask(self, prompt: Prompt) -> str: ...


class ConsoleOperator:
    """A person at the bench: the instruction on ``out``, confirmation by Enter on ``source``."""

    def __init__(self, out: IO[str] | None = None, source: IO[str] | None = None) -> None:
        self.out = out or sys.stderr
        self.source = source or sys.stdin

    async def ask(self, prompt: Prompt) -> str:
        self.out.write(f"OPERATOR: {prompt.text}; press Enter when done "
                       f"(waiting up to {prompt.timeout_s:.0f} s)\n")
        self.out.flush()
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[str] = loop.create_future()

        def read() -> None:  # a daemon thread: one left waiting after a timeout never holds up the exit
            line = self.source.readline()
            loop.call_soon_threadsafe(lambda: answer.done() or answer.set_result(line))

        threading.Thread(target=read, name="operator-prompt", daemon=True).start()
        try:
            async with asyncio.timeout(prompt.timeout_s):
                line = await answer
        except TimeoutError:
            raise OperatorTimeout(f"operator: nobody confirmed {prompt.action} of {prompt.device.eui64} "
                                  f"within {prompt.timeout_s:.0f} s") from None
        if not line:
            raise OperatorTimeout(f"operator: no input to confirm {prompt.action} of {prompt.device.eui64}")
        return "operator confirmed"


class SimulatedOperator:
    """The simulator's matching action on the virtual device behind the prompt (``gw.sim``)."""

    def __init__(self, sim: Any) -> None:
        self.sim = sim  # hal.simcontrol.SimControl

    async def ask(self, prompt: Prompt) -> str:
        eui64 = prompt.device.eui64
        if not self.sim.has_device(eui64):
            raise OperatorTimeout(f"operator: {eui64} is not a device of the simulated HAN")
        if prompt.action is Action.POWER_CYCLE:
            await self.sim.reboot(eui64)  # off for the simulator's reboot time, then back on
            return "simulator: device power-cycled"
        await self.sim.reboot(eui64, 0.0)  # a join button press: leave and rejoin at once
        return "simulator: device rejoined"


def operator_for(gateway: Any, device: Any, fallback: Operator | None = None) -> Operator:
    """The simulator for a device on ``sim://``, else ``fallback`` (default: the console)."""
    sim = gateway.sim(device.radio_id)
    if sim is not None and sim.has_device(device.eui64):
        return SimulatedOperator(sim)
    return fallback or ConsoleOperator()

"""The virtual NCP's EZSP command handlers, in four groups, dispatched from one declarative table.

* ``config``: configuration and tokens (version, configuration values, values, policies, endpoints, tokens);
* ``network``: network state, form/leave, permit joining, scans, child and address tables, join events;
* ``messaging``: unicast/broadcast/multicast, incoming messages, custom frames (XNCP goes here);
* ``security``: security state, network and link keys, the key table, transient keys;
* ``cbke``: the CBKE crypto engine (certificates, ephemeral keys, SMACs, the link key it stores).

Each group is a mixin class of :class:`~hal.ezsp_stick.ncp.EzspNcp` (so ``self`` is the NCP and its state)
plus a ``COMMANDS`` table that maps the EZSP command name, as bellows spells it in
``bellows/ezsp/v*/commands.py``, to the handler. :data:`COMMANDS` merges the groups; a name in two groups
is an error at import.

**Adding a command** (e.g. ``calculateSmacs283k1`` in ``security``):

1. write the handler on the group's mixin::

       async def _cmd_calculateSmacs283k1(self, after: list, amInitiator: bool, partnerCert: ...) -> dict:
           ...
           after.append(("calculateSmacs283k1Handler", {"status": t.sl_Status.OK, ...}))
           return {"status": t.sl_Status.OK}

   It receives ``after`` and the command's fields decoded with bellows' schema for the negotiated version
   (by name). It returns the response fields by name (give both spellings where versions renamed a
   field; a status is an ``sl_Status``, converted to the version's type on the way out; fields missing
   from a failed response are sent zeroed). Callbacks to send *after* the response go into ``after`` as
   ``(callback name, fields)``; callbacks later on go through ``self.callback(name, fields)``;
2. add ``"calculateSmacs283k1": SecurityCommands._cmd_calculateSmacs283k1`` to that module's ``COMMANDS``.

A command bellows knows but no table names is answered ``invalidCommand`` (``ERROR_INVALID_FRAME_ID``),
as a stock NCP answers what its firmware lacks. A new group is a new module with a mixin and a table,
added to ``GROUPS`` below and to ``EzspNcp``'s bases.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

Handler = Callable[..., Awaitable[dict[str, Any]]]  # (ncp, after, **fields) -> response fields

from . import cbke, config, messaging, network, security  # noqa: E402  (the groups use Handler)

GROUPS = (config, network, messaging, security, cbke)


def merged(groups: tuple[Any, ...] = GROUPS) -> dict[str, Handler]:
    """The groups' tables as one; a command in two groups is a mistake, not an override."""
    table: dict[str, Handler] = {}
    for group in groups:
        for name, handler in group.COMMANDS.items():
            if name in table:
                raise ValueError(f"ezsp command {name!r} is handled by two groups ({group.__name__})")
            table[name] = handler
    return table


COMMANDS: dict[str, Handler] = merged()

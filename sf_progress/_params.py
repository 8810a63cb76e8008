"""``Parameter``: one start parameter of a fault kind, described once, for every front end.

Each spec class (``_targets.py``) annotates its fields with :func:`about`; the command line
builds its start commands, their options and their ``--from`` columns from
``FaultTarget.parameters(kind)``, so a new kind (or a new parameter) needs no code there.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

import attrs

__all__ = ["TARGET_PARAMETERS", "Parameter", "about", "parameters_of"]

_KEY = "sf_progress"


@attrs.frozen(kw_only=True)
class Parameter:
    """One parameter of a fault kind's start: its target's fields first, then its spec's.

    Attributes:
        name: The keyword of :meth:`FaultTarget.of` (and of the kind's factory).
        help: What it is, in one line.
        required: Whether it must be given.
        default: Its default (``None`` when required or when it has none).
        choices: The values an enumerated parameter takes (wire spellings), else empty.
        aliases: Shorter spellings the command line accepts for some choices.
        number: Whether it is a number (whole seconds or an integer id).
        positional: Whether the command line takes it as an argument (the target, a transition).
        target: Whether it names what the fault acts on (a field of its ``OperationRef``).
        flag: The command line's option, e.g. ``--duration`` (positional ones have none).
        column: Its column in a ``--from`` file.
        switch: Whether it is a yes/no switch (the command line's flag takes no value).
    """

    name: str
    help: str
    required: bool
    default: object = None
    choices: tuple[str, ...] = ()
    aliases: Mapping[str, str] = attrs.field(factory=dict)
    number: bool = False
    positional: bool = False
    target: bool = False
    flag: str = ""
    column: str = ""
    switch: bool = False

    def value(self, text: str) -> object:
        """The value a command line or a ``--from`` cell gives as *text*: an alias resolved, a number read.

        Args:
            text: The text as given.

        Returns:
            The value for :meth:`FaultTarget.of` (still checked there).

        Raises:
            ValueError: A number that is not one.
        """
        text = self.aliases.get(text.strip().lower(), text)
        if not self.number:
            return text
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"{self.column} must be a number, got {text!r}") from None
        return int(number) if number.is_integer() else number


def about(
    help: str,
    *,
    flag: str | None = None,
    column: str | None = None,
    aliases: Mapping[str, str] | None = None,
    number: bool = False,
    positional: bool = False,
    choices: type[enum.Enum] | None = None,
    switch: bool = False,
) -> dict[str, Any]:
    """A spec field's metadata: how front ends show and read it (``attrs.field(metadata=about(...))``).

    *choices* names the enum of a parameter without a default (one with a default: its enum).
    """
    return {_KEY: {"help": help, "flag": flag, "column": column, "aliases": dict(aliases or {}),
                   "number": number, "positional": positional, "choices": choices, "switch": switch}}


def parameters_of(spec: type[Any]) -> tuple[Parameter, ...]:
    """The parameters of a spec class, from its fields and their :func:`about` metadata."""
    found = []
    for field in attrs.fields(spec):
        meta = field.metadata.get(_KEY)
        if meta is None:
            continue
        default = None if field.default is attrs.NOTHING else field.default
        enum_type = meta["choices"] or _enum_of(default)
        found.append(
            Parameter(
                name=field.name,
                help=meta["help"],
                required=field.default is attrs.NOTHING,
                default=default.value if isinstance(default, enum.Enum) else default,
                choices=tuple(member.value for member in enum_type) if enum_type is not None else (),
                aliases=meta["aliases"],
                number=meta["number"],
                positional=meta["positional"],
                flag="" if meta["positional"] else meta["flag"] or "--" + field.name.replace("_", "-"),
                column=meta["column"] or field.name,
                switch=meta["switch"],
            )
        )
    return tuple(found)


def _enum_of(default: object) -> type[enum.Enum] | None:
    return type(default) if isinstance(default, enum.Enum) else None


#: The target's own fields, by the kind of entity a fault acts on.
TARGET_PARAMETERS = {
    "partition": (
        Parameter(name="service_id", help="The service (fabric:/app/svc, app/svc or app~svc).", required=True,
                  positional=True, target=True, column="service_id"),
        Parameter(name="partition_id", help="The partition's GUID.", required=True, positional=True, target=True,
                  column="partition_id"),
    ),
    "node": (
        Parameter(name="node_name", help="The node's name.", required=True, positional=True, target=True,
                  column="node_name"),
    ),
}

"""The safety rules' names, and a waiver (``allow``) read from what users write."""

from __future__ import annotations

import enum
from collections.abc import Iterable

__all__ = ["ALL", "Rule", "allowed"]


class Rule(str, enum.Enum):
    """A safety rule, by the name users waive it with."""

    UPGRADE = "upgrade"  # no cluster upgrade in progress
    APP_UPGRADE = "app-upgrade"  # no upgrade of the target's application
    REPAIR = "repair"  # no active repair task on a node the fault touches
    CHAOS = "chaos"  # SF Chaos not running
    HEALTH = "health"  # cluster health not Error (or Warning)
    NODE_HEALTH = "node-health"  # a node taken down is Up and healthy
    SEED_QUORUM = "seed-quorum"  # more than half of the seed nodes stay up
    DOMAINS = "domains"  # nodes down by our faults in one fault domain and one upgrade domain at most

    def __str__(self) -> str:
        return self.value


ALL = "all"


def allowed(value: str | Rule | Iterable[str | Rule] | None) -> frozenset[Rule]:
    """The rules *value* waives: a rule's name, ``"all"``, or a collection of them (``None``: none).

    Names may be separated by commas (``"upgrade,chaos"``) and are read in any case.

    Raises:
        ValueError: A name that is no rule (the message lists them).
        TypeError: A value that is neither a name nor a collection of names.
    """
    if value is None:
        return frozenset()
    items: Iterable[object] = value.split(",") if isinstance(value, str) else (
        [value] if isinstance(value, Rule) else value)
    try:
        names = [item.value if isinstance(item, Rule) else str(item).strip().lower() for item in items]
    except TypeError:
        raise TypeError(f"allow must be a rule's name or a collection of them, got {value!r}") from None
    waived: set[Rule] = set()
    for name in names:
        if not name:
            continue
        if name == ALL:
            return frozenset(Rule)
        try:
            waived.add(Rule(name))
        except ValueError:
            rules = ", ".join(rule.value for rule in Rule)
            raise ValueError(f"unknown safety rule {name!r}: the rules are {rules} (or all)") from None
    return frozenset(waived)

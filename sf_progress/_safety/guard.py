"""A client's safety guard: every start is checked against the rules in force, nothing sent when one forbids it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import cast

from .._errors import NotFoundError, SafetyError, SFProgressError
from .._lever import LEVER_RULE, LeverState
from .._targets import FaultTarget
from .._verified.reads import TargetReads
from .inputs import Get, Inputs, SafetyReads
from .judge import needs, takes_down, violations
from .rules import Rule, allowed

__all__ = ["HEALTH_LEVELS", "Guard"]

LEVER = frozenset({LEVER_RULE})

logger = logging.getLogger("sf_progress")
#: Seconds after our fault on a node before a list showing it Up says it is back (a restart goes
#: down about 5 s after its 200; a read before that would show it Up).
BACK_AFTER = 30.0
#: The cluster health that forbids faults: ``Error`` (the default), or already ``Warning``.
HEALTH_LEVELS = ("Error", "Warning")


def _lever(inputs: Inputs) -> list[tuple[str, str]]:
    """The lever's refusal, if engaged (or unread: a lever that cannot be read may be engaged)."""
    if LEVER_RULE in inputs.unread:
        return [(LEVER_RULE, f"the stop lever could not be read ({inputs.unread[LEVER_RULE]})")]
    if inputs.lever is not None and inputs.lever.engaged:
        return [(LEVER_RULE, f"the stop lever is {inputs.lever}")]
    return []


def health_level(value: object) -> str:
    text = str(value).strip().capitalize() if isinstance(value, str) else getattr(value, "value", None)
    if text not in HEALTH_LEVELS:
        raise ValueError(f"forbid_health must be 'Error' or 'Warning', got {value!r}")
    return str(text)


class Guard:
    """The rules a client holds its starts to (``allow`` waives some by name), read at most once per tick."""

    def __init__(
        self,
        get: Get,
        reads: TargetReads,
        clock: Callable[[], float],
        allow: str | Rule | Iterable[str | Rule] | None,
        forbid_health: str,
    ) -> None:
        self.waived = allowed(allow)
        self.forbid_health = health_level(forbid_health)
        self.target_reads = reads
        self.reads = SafetyReads(get, reads, clock)
        self.clock = clock
        self.taken_down: dict[str, float] = {}  # nodes our faults took down, and when (the domains rule)

    @property
    def off(self) -> bool:
        """Every rule waived: nothing to read."""
        return self.waived == frozenset(Rule)

    async def evaluate(self, target: FaultTarget) -> list[tuple[str, str]]:
        """The stop lever if engaged, then every rule in force *target* breaks now, with what it saw
        (empty: it may go in)."""
        if self.off:
            return _lever(await self.reads.read(LEVER, frozenset()))
        app = None
        if Rule.APP_UPGRADE not in self.waived and target.ref.service_id is not None:
            try:
                app = await self.target_reads.application(target.ref.service_id, target.ref)
            except NotFoundError:
                app = None  # no such service: no application to be upgrading (the cluster will say the rest)
            except SFProgressError as exc:
                return [(Rule.APP_UPGRADE.value, f"the service's application could not be read ({exc})")]
        inputs = await self.reads.read(needs([target], self.waived) | LEVER, frozenset({app} if app else ()))
        found = violations(target, app, inputs, self.waived, self.forbid_health, self._down_by_us(inputs))
        return _lever(inputs) + [(rule.value, saw) for rule, saw in found]

    async def check(self, target: FaultTarget) -> None:
        """Raise :class:`SafetyError` for the lever or the first rule in force *target* breaks now (nothing sent)."""
        found = await self.evaluate(target)
        if found:
            rule, saw = found[0]
            raise SafetyError(rule, saw, ref=target.ref)
        if self.waived:
            logger.info("safety rules waived for %s: %s", target.ref, ", ".join(sorted(r.value for r in self.waived)))

    async def lever(self) -> LeverState:
        """The stop lever, read at most once per tick for every caller of this client."""
        return cast(LeverState, await self.reads.cache.get("lever", self.reads.lever))

    def forget_lever(self) -> None:
        """The lever was just written: read it again at the next look."""
        self.reads.cache.forget("lever")

    def _down_by_us(self, inputs: Inputs) -> frozenset[str]:
        """The nodes our faults took down that are not known to be back: a node counts as down until a
        node list read ``BACK_AFTER`` seconds or more after its fault shows it ``Up`` again."""
        nodes, read_at = inputs.nodes, self.reads.read_at("nodes")
        for name, at in list(self.taken_down.items()):
            node = None if nodes is None else nodes.get(name)
            if node is not None and node.status == "Up" and read_at - at >= BACK_AFTER:
                del self.taken_down[name]
        return frozenset(self.taken_down)

    def started(self, target: FaultTarget) -> None:
        """*target* was sent: a node it takes down counts for the domains rule from now on."""
        if takes_down(target) and target.ref.node_name is not None:
            self.taken_down[target.ref.node_name] = self.clock()

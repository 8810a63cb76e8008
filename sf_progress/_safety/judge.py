"""A fault against the rules: which rules it needs read, and what each of them says (pure)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from .._models import OperationType
from .._preflight import UPGRADE_DONE
from .._specs import NodeTransitionSpec, NodeTransitionType
from .._targets import FaultTarget
from .inputs import Inputs
from .rules import Rule

__all__ = ["needs", "takes_down", "touched", "violations"]

_UP = "Up"


def takes_down(target: FaultTarget) -> bool:
    """Whether the fault takes a node down (a node stop or restart; not a node start)."""
    if target.kind is OperationType.NODE_RESTART:
        return True
    spec = target.spec
    return isinstance(spec, NodeTransitionSpec) and spec.transition is NodeTransitionType.STOP


def touched(target: FaultTarget) -> frozenset[str]:
    """The nodes the fault acts on, as far as it names them (a node; a verified fault's replica and destination)."""
    ref = target.ref
    if ref.node_name is not None:
        return frozenset({ref.node_name})
    baseline = ref.baseline
    if baseline is None:
        return frozenset()  # a Fault Analysis partition fault names no node
    return frozenset(n for n in (baseline.node_name, baseline.to_node) if n)


def needs(targets: Iterable[FaultTarget], waived: frozenset[Rule]) -> frozenset[str]:
    """The inputs the rules in force need (``upgrade``, ``repairs``, ``chaos``, ``health``, ``nodes``)."""
    found = set()
    items = list(targets)
    if Rule.UPGRADE not in waived:
        found.add("upgrade")
    if Rule.CHAOS not in waived:
        found.add("chaos")
    if Rule.HEALTH not in waived:
        found.add("health")
    if Rule.REPAIR not in waived and any(touched(t) for t in items):
        found.add("repairs")
    node_rules = {Rule.NODE_HEALTH, Rule.SEED_QUORUM, Rule.DOMAINS} - waived
    if node_rules and any(takes_down(t) for t in items):
        found.add("nodes")
    return frozenset(found)


def violations(
    target: FaultTarget,
    app: str | None,
    inputs: Inputs,
    waived: frozenset[Rule],
    forbid_health: str,
    down_by_us: frozenset[str],
) -> list[tuple[Rule, str]]:
    """Every rule in force the fault breaks now, with what it saw (empty: it may go in)."""
    found: list[tuple[Rule, str]] = []

    def rule(which: Rule, broken: str | None) -> None:
        if which not in waived and broken:
            found.append((which, broken))

    unread = inputs.unread
    rule(Rule.UPGRADE, _unread(unread, "upgrade") or (
        f"a cluster upgrade is in progress ({inputs.upgrade})" if inputs.upgrade not in UPGRADE_DONE else None))
    if app is not None:
        state = inputs.app_upgrades.get(app)
        rule(Rule.APP_UPGRADE, _unread(unread, f"app-upgrade {app}") or (
            f"application {app} is upgrading ({state})" if state is not None and state not in UPGRADE_DONE else None))
    rule(Rule.CHAOS, _unread(unread, "chaos") or ("SF Chaos is running" if inputs.chaos == "Running" else None))
    forbidden = ("Error", "Warning") if forbid_health == "Warning" else ("Error",)
    rule(Rule.HEALTH, _unread(unread, "health") or (
        f"cluster health is {inputs.health}" if inputs.health in forbidden else None))
    nodes = touched(target)
    if nodes and inputs.repairs is not None:
        busy = [r for r in inputs.repairs if r.nodes & nodes]
        rule(Rule.REPAIR, _unread(unread, "repairs") or (
            "active repair task " + ", ".join(f"{r.task_id} ({r.state}) on {', '.join(sorted(r.nodes & nodes))}"
                                              for r in busy) if busy else None))
    elif nodes:
        rule(Rule.REPAIR, _unread(unread, "repairs"))
    if takes_down(target):
        _node_rules(target, inputs, down_by_us, rule)
    return found


def _node_rules(
    target: FaultTarget, inputs: Inputs, down_by_us: frozenset[str], rule: Callable[[Rule, str | None], None]
) -> None:
    name = target.ref.node_name
    assert name is not None
    if inputs.nodes is None:
        why = _unread(inputs.unread, "nodes") or "the node list was not read"
        for which in (Rule.NODE_HEALTH, Rule.SEED_QUORUM, Rule.DOMAINS):
            rule(which, why)
        return
    nodes = inputs.nodes
    node = nodes.get(name)
    if node is None:
        return  # no such node: nothing to take down (the cluster refuses the fault itself)
    if node.status != _UP or node.health != "Ok":
        rule(Rule.NODE_HEALTH,
             f"node {name} is {node.status}, health {node.health} (only an Up, Ok node is taken down)")
    seeds = [n for n in nodes.values() if n.seed]
    if node.seed:
        up_after = sum(1 for n in seeds if n.status == _UP and n.name != name)
        if not up_after > len(seeds) / 2:
            rule(Rule.SEED_QUORUM, f"{up_after} of {len(seeds)} seed nodes would stay up (more than half must)")
    down = {n for n in down_by_us if n in nodes} | {name}  # ours: down until seen back (the guard says)
    domains = {nodes[n].fault_domain for n in down}
    upgrade_domains = {nodes[n].upgrade_domain for n in down}
    if len(domains) > 1 or len(upgrade_domains) > 1:
        rule(Rule.DOMAINS, f"nodes down by our faults would span fault domains {', '.join(sorted(domains))} and "
                           f"upgrade domains {', '.join(sorted(upgrade_domains))} (one of each at most)")


def _unread(unread: Mapping[str, str], key: str) -> str | None:
    why = unread.get(key)
    return None if why is None else f"could not be read ({why})"

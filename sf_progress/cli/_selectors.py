"""Target selectors on every start command: ``--service``, ``--application``, ``--node-type``, ``--count``,
``--seed``, ``--seed-nodes`` -- targets picked by ``ProgressClient.select_targets`` instead of named."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import click

from .. import FaultTarget, OperationType, Parameter, ProgressClient

__all__ = ["SELECTOR_NAMES", "Select", "selection", "selector_options"]

#: ``select(client)``: the targets a selector names, read from the cluster, and the selector in words.
Select = Callable[[ProgressClient], Awaitable[tuple[list[FaultTarget], str]]]
SELECTOR_NAMES = ("service", "application", "node_type", "count", "seed", "seed_nodes")
_NODE_FIELDS = {"node_name"}


def _on_nodes(parameters: tuple[Parameter, ...]) -> bool:
    return any(p.name in _NODE_FIELDS for p in parameters)


def selector_options(parameters: tuple[Parameter, ...]) -> list[Callable[[Callable[..., Any]], Callable[..., Any]]]:
    """The selector options of a start command (partition selectors, or node selectors, and the pick's)."""
    pick = [
        click.option("--count", type=click.IntRange(1), default=None,
                     help="With a selector: pick this many targets at random (default: every candidate)."),
        click.option("--seed", metavar="SEED", default=None,
                     help="Seed of the random pick: the same seed picks the same targets of the same cluster."),
    ]
    if _on_nodes(parameters):
        return [
            click.option("--node-type", metavar="TYPE", default=None,
                         help="Select the nodes instead of naming one: the Up nodes of this type (see --count; "
                         "without a type, among all nodes), spread across fault domains; a run like --from."),
            click.option("--seed-nodes", is_flag=True, default=False,
                         help="Let the selection pick seed nodes too (default: never)."),
            *pick,
        ]
    return [
        click.option("--service", metavar="NAME", default=None,
                     help="Select the targets among this service's partitions instead of naming one (see "
                     "--count); a run like --from."),
        click.option("--application", metavar="NAME", default=None,
                     help="Select among the partitions of this application's services (those the fault applies "
                     "to)."),
        *pick,
    ]


def selection(
    kind: OperationType, parameters: tuple[Parameter, ...], selector: dict[str, Any], texts: dict[str, str]
) -> Select | None:
    """The select function of a command line's selector (``None``: no selector given; the target is named).

    *texts*: the command's parameters as given (a selection takes the fault's own ones; the
    positional values given fill the positional parameters that are not the target's, in order:
    ``node-transition --node-type T stop``).
    """
    nodes = _on_nodes(parameters)
    chosen = {k: v for k, v in selector.items() if v not in (None, False)}
    if not chosen:
        return None
    if set(chosen) == {"seed"}:
        raise click.UsageError("--seed goes with a selector (--count, --service, --application or --node-type)")
    if not nodes and "service" not in chosen and "application" not in chosen:
        raise click.UsageError(f"select a {kind.short_name} fault's partitions by --service or --application")
    target_fields = _NODE_FIELDS if nodes else {"service_id", "partition_id"}
    positional = [p for p in parameters if p.positional]
    given = [texts[p.column] for p in positional if p.column in texts]
    free = [p for p in positional if p.name not in target_fields]
    if len(given) > len(free):
        raise click.UsageError(f"a selection names its targets itself: {' '.join(given)} is one argument too many")
    values: dict[str, Any] = {}
    try:
        for p, text in zip(free, given, strict=False):
            values[p.name] = p.value(text)
        for p in parameters:
            if not p.positional and p.name not in target_fields and p.column in texts:
                values[p.name] = p.value(texts[p.column])
    except (ValueError, TypeError) as exc:
        raise click.BadParameter(str(exc)) from None
    missing = [p.flag or f"the {p.name.upper()} argument" for p in parameters
               if p.required and p.name not in target_fields and p.name not in values]
    if missing:
        raise click.UsageError(f"{missing[0]} is required")
    seed = chosen.get("seed")
    picks: dict[str, Any] = {**{k: chosen.get(k) for k in ("service", "application", "node_type", "count")},
             "seed": int(seed) if isinstance(seed, str) and seed.lstrip("-").isdigit() else seed,
             "seed_nodes": bool(chosen.get("seed_nodes"))}

    said = " ".join(f"--{k.replace('_', '-')}" + ("" if v is True else f" {v}") for k, v in chosen.items())

    async def select(client: ProgressClient) -> tuple[list[FaultTarget], str]:
        try:
            targets = await client.select_targets(kind, **picks, **values)
        except (ValueError, TypeError) as exc:
            raise click.BadParameter(str(exc)) from None
        return targets, f"{len(targets)} target(s) selected by {said}"

    return select

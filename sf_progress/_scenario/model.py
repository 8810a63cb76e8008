"""``Scenario``: a failover scenario as a value -- which service, which faults in which order, how long, how
validated -- read from a dict, a JSON or a YAML file, and its JSON Schema.

The default fault list is Service Fabric's retired ``FailoverTestScenario``'s: restart, remove and
restart the code package of the primary and of a secondary, restart the partition, move the
primary and a secondary; restricted to what the service's kind allows (a volatile service's
replicas cannot be restarted, a stateless service has instances to remove and move).
"""

from __future__ import annotations

import json
import math
import os
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from .._models import OperationType
from .._targets import FaultTarget

__all__ = ["FaultStep", "Scenario", "default_steps"]

_KEYS = ("service", "partitions", "faults", "rounds", "duration", "wait_between", "stabilization_timeout",
         "max_fault_errors", "seed", "fault_deadline")
_PARTITION_FAULTS = tuple(t.short_name for t in OperationType if t not in (OperationType.INVALID, OperationType.UNKNOWN)
                          and FaultTarget.parameters(t)[0].name == "service_id")


@attrs.frozen
class FaultStep:
    """One fault of a scenario's list: the fault's command-line name and its own parameters.

    Attributes:
        fault: The fault kind's short name (``restart-replica``, ``move-primary``, ``restart``...).
        parameters: Its parameters but the target (``{"replica": "secondary"}``, ``{"mode": ...}``).
    """

    fault: str
    parameters: Mapping[str, Any] = attrs.field(factory=dict, converter=dict)

    def __attrs_post_init__(self) -> None:
        if self.fault not in _PARTITION_FAULTS:
            raise ValueError(f"faults: {self.fault!r} is not a partition fault (one of {', '.join(_PARTITION_FAULTS)})")
        self.target("sf-progress~check", uuid.UUID(int=1))  # its parameters checked once, here

    @property
    def label(self) -> str:
        """The step in words, as events and reports show it (``restart-replica (replica=secondary)``)."""
        said = ", ".join(f"{k}={v}" for k, v in self.parameters.items())
        return self.fault + (f" ({said})" if said else "")

    def target(self, service_id: str, partition_id: uuid.UUID) -> FaultTarget:
        """The fault on one partition (a new OperationId).

        Args:
            service_id: The service.
            partition_id: The partition.

        Returns:
            The checked target.
        """
        return FaultTarget.of(self.fault, service_id=service_id, partition_id=partition_id, **self.parameters)

    def as_dict(self) -> dict[str, Any]:
        """The step as a scenario file writes it.

        Returns:
            ``{"fault": ..., **parameters}``.
        """
        return {"fault": self.fault, **self.parameters}

    @classmethod
    def of(cls, value: object) -> FaultStep:
        """A step from a file: a fault's name, or ``{"fault": name, **parameters}``.

        Args:
            value: The item of the file's ``faults`` list.

        Returns:
            The step.

        Raises:
            ValueError: Not a fault this scenario can take, or a bad parameter.
        """
        if isinstance(value, FaultStep):
            return value
        if isinstance(value, str):
            return cls(value.strip().lower())
        if isinstance(value, Mapping) and isinstance(value.get("fault"), str):
            parameters: dict[str, Any] = {str(k): v for k, v in value.items() if k != "fault"}
            return cls(str(value["fault"]).strip().lower(), parameters)
        raise ValueError(f"faults: each item is a fault's name or {{'fault': name, ...}}, got {value!r}")


def _primary_secondary(fault: str) -> tuple[FaultStep, FaultStep]:
    primary: dict[str, Any] = {"replica": "primary"}
    return FaultStep(fault, primary), FaultStep(fault, {**primary, "replica": "secondary"})


def default_steps(stateful: bool, persisted: bool) -> tuple[FaultStep, ...]:
    """The failover scenario's fault list for a service of that kind.

    Args:
        stateful: Whether the service is stateful.
        persisted: Whether its state is persisted.

    Returns:
        The steps in order.
    """
    if not stateful:
        return (FaultStep("remove-replica"), FaultStep("restart-code-package"), FaultStep("restart"),
                FaultStep("move-instance"))
    return (*(_primary_secondary("restart-replica") if persisted else ()), *_primary_secondary("remove-replica"),
            *_primary_secondary("restart-code-package"), FaultStep("restart"), FaultStep("move-primary"),
            FaultStep("move-secondary"))


def _partitions(value: object) -> str | int | tuple[uuid.UUID, ...]:
    if value == "all":
        return "all"
    if type(value) is int and value >= 1:
        return value
    if isinstance(value, (list, tuple)) and value:
        try:
            return tuple(uuid.UUID(str(item)) for item in value)
        except ValueError:
            pass
    raise ValueError(f"partitions must be 'all', a count >= 1 or a list of partition ids, got {value!r}")


def _steps(value: object) -> tuple[FaultStep, ...] | None:
    if value is None:
        return None
    if isinstance(value, (str, Mapping)) or not hasattr(value, "__iter__"):
        raise ValueError(f"faults must be a list, got {value!r}")
    steps = tuple(FaultStep.of(item) for item in value)
    if not steps:
        raise ValueError("faults must not be empty (leave it out for the failover list)")
    return steps


def _seconds(name: str, *, positive: bool = True) -> Any:
    def check(instance: Any, attribute: Any, value: Any) -> None:
        if value is None and name == "duration":
            return
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or (
                value <= 0 if positive else value < 0):
            raise ValueError(f"{name} must be a number of seconds {'> 0' if positive else '>= 0'}, got {value!r}")

    return check


def _count(name: str, low: int) -> Any:
    def check(instance: Any, attribute: Any, value: Any) -> None:
        if value is None and name == "rounds":
            return
        if type(value) is not int or value < low:
            raise ValueError(f"{name} must be an int >= {low}, got {value!r}")

    return check


def _seed(instance: Any, attribute: Any, value: Any) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, str))):
        raise ValueError(f"seed must be an int or a str, got {value!r}")


def _service(instance: Any, attribute: Any, value: Any) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"service must be a service's name or id, got {value!r}")


@attrs.frozen
class Scenario:
    """A failover scenario: fault a service's partitions in turn, validating the whole service after each fault.

    Attributes:
        service: The service's name or id (``fabric:/app/svc``).
        partitions: Which partitions: ``"all"``, a count picked at random, or a list of ids (default 1).
        faults: The fault list, in order (``None``: the failover list for the service's kind).
        rounds: How many times each fault is injected (default 5; with ``duration`` alone: as
            many as fit).
        duration: A time budget in seconds (no new fault once spent), or ``None``.
        wait_between: Seconds to wait after each validation before the next fault (default 5).
        stabilization_timeout: Seconds a validation may take before the service counts as
            unstable and the run fails (default 120).
        max_fault_errors: Consecutive fault errors tolerated ("the state might have changed
            during the action"); one more stops the run (default 5).
        seed: The seed of every random choice (partitions, which partition each fault takes);
            ``None``: one is drawn and journaled.
        fault_deadline: Seconds each fault's wait may take (default 300).
    """

    service: str = attrs.field(validator=_service)
    partitions: str | int | tuple[uuid.UUID, ...] = attrs.field(default=1, converter=_partitions)
    faults: tuple[FaultStep, ...] | None = attrs.field(default=None, converter=_steps)
    rounds: int | None = attrs.field(default=None, validator=_count("rounds", 1))
    duration: float | None = attrs.field(default=None, validator=_seconds("duration"))
    wait_between: float = attrs.field(default=5.0, validator=_seconds("wait_between", positive=False))
    stabilization_timeout: float = attrs.field(default=120.0, validator=_seconds("stabilization_timeout"))
    max_fault_errors: int = attrs.field(default=5, validator=_count("max_fault_errors", 0))
    seed: int | str | None = attrs.field(default=None, validator=_seed)
    fault_deadline: float = attrs.field(default=300.0, validator=_seconds("fault_deadline"))

    @property
    def rounds_per_fault(self) -> int | None:
        """The rounds of each fault (5 unless a ``duration`` alone bounds the run; ``None``: unbounded)."""
        if self.rounds is not None:
            return self.rounds
        return None if self.duration is not None else 5

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Scenario:
        """A scenario from a scenario file's object (the keys of :meth:`json_schema`).

        Args:
            data: The object.

        Returns:
            The scenario.

        Raises:
            ValueError: An unknown key, a missing ``service``, or a bad value (the message names the key).
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"a scenario is a JSON or YAML object, not {type(data).__name__}")
        unknown = sorted(set(data) - set(_KEYS))
        if unknown:
            keys = ", ".join(_KEYS)
            raise ValueError(f"unknown scenario key(s) {', '.join(map(repr, unknown))}: the keys are {keys}")
        if "service" not in data:
            raise ValueError("a scenario needs its service")
        try:
            return cls(**data)
        except TypeError as exc:
            raise ValueError(str(exc)) from None

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Scenario:
        """A scenario from a JSON or YAML file (``.json``: JSON; otherwise YAML, of which JSON is a part).

        Args:
            path: The file.

        Returns:
            The scenario.

        Raises:
            ValueError: The file cannot be read or parsed, or holds a bad scenario (said with its path).
        """
        source = Path(path)
        try:
            text = source.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"scenario file {str(source)!r} cannot be read: {exc}") from None
        data: object
        if source.suffix.lower() == ".json":
            try:
                data = json.loads(text)
            except ValueError as exc:
                raise ValueError(f"scenario file {str(source)!r} is not valid JSON: {exc}") from None
        else:
            try:
                import yaml  # (the cli extra installs it)
            except ImportError:
                raise ValueError("a YAML scenario file needs PyYAML (pip install 'sf-progress[cli]')") from None
            try:
                data = yaml.safe_load(text)
            except yaml.YAMLError as exc:
                first = str(exc).splitlines()[0]
                raise ValueError(f"scenario file {str(source)!r} is not valid YAML: {first}") from None
        try:
            return cls.from_dict(data)  # type: ignore[arg-type]
        except ValueError as exc:
            raise ValueError(f"scenario file {str(source)!r}: {exc}") from None

    def as_dict(self) -> dict[str, Any]:
        """The scenario as a scenario file's object (journaled, and what ``--plan -o json`` shows).

        Returns:
            Every key, ``faults`` as a list (``None``: the failover list), ``partitions`` as written.
        """
        partitions: Any = self.partitions
        if isinstance(partitions, tuple):
            partitions = [str(p) for p in partitions]
        return {"service": self.service, "partitions": partitions,
                "faults": None if self.faults is None else [step.as_dict() for step in self.faults],
                "rounds": self.rounds, "duration": self.duration, "wait_between": self.wait_between,
                "stabilization_timeout": self.stabilization_timeout, "max_fault_errors": self.max_fault_errors,
                "seed": self.seed, "fault_deadline": self.fault_deadline}

    @staticmethod
    def json_schema() -> dict[str, Any]:
        """The JSON Schema of a scenario file (published in the docs).

        Returns:
            The schema (draft 2020-12).
        """
        seconds = {"type": "number", "exclusiveMinimum": 0}
        fault = {"type": "string", "enum": list(_PARTITION_FAULTS)}
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "sf_progress failover scenario",
            "type": "object",
            "required": ["service"],
            "additionalProperties": False,
            "properties": {
                "service": {"type": "string", "description": "The service's name (fabric:/app/svc) or id."},
                "partitions": {"description": "'all', a count picked at random, or a list of partition ids "
                               "(default 1).", "oneOf": [
                                   {"const": "all"}, {"type": "integer", "minimum": 1},
                                   {"type": "array", "minItems": 1, "items": {"type": "string", "format": "uuid"}}]},
                "faults": {"description": "The faults in order (default: the failover list for the service's "
                           "kind).", "type": "array", "minItems": 1, "items": {"oneOf": [
                               fault, {"type": "object", "required": ["fault"], "properties": {"fault": fault}}]}},
                "rounds": {"type": "integer", "minimum": 1, "description": "Times each fault is injected "
                           "(default 5; with duration alone, as many as fit)."},
                "duration": {**seconds, "description": "Time budget in seconds."},
                "wait_between": {"type": "number", "minimum": 0, "description": "Seconds between a validation "
                                 "and the next fault (default 5)."},
                "stabilization_timeout": {**seconds, "description": "Seconds a validation may take (default 120)."},
                "max_fault_errors": {"type": "integer", "minimum": 0, "description": "Consecutive fault errors "
                                     "tolerated (default 5)."},
                "seed": {"type": ["integer", "string"], "description": "Seed of every random choice."},
                "fault_deadline": {**seconds, "description": "Seconds each fault's wait may take (default 300)."},
            },
        }

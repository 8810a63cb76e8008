"""``Baseline``: what a verified fault's target looked like just before its start, and the choices made.

The cluster keeps no operation for a replica, code-package, move or node-restart fault:
whether it happened is decided by comparing the target with this record (the replica id
gone, the entry point's or the node's instance id grown, the primary on another node).
A start records it in the ref and the journal before anything is sent, so a run resumed
after a crash decides from it whether the fault already happened.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

__all__ = ["Baseline"]


def _optional_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise TypeError(f"expected a string, got {type(value).__name__}: {value!r}")
    return str(value)


def _optional_bool(value: object) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise TypeError(f"expected a bool, got {type(value).__name__}: {value!r}")


@attrs.frozen(kw_only=True)
class Baseline:
    """The target of a verified fault as read just before its start (every field optional).

    Attributes:
        replica_id: The replica (or stateless instance) the fault acts on: the one restarted,
            removed, whose code package restarts, or moved (a move of the primary: the primary).
        node_name: The node that replica was on (a move's source node).
        role: Its role then (``Primary``, ``ActiveSecondary``; none for an instance).
        status: Its status then (``Ready``...).
        to_node: A move's destination: the one asked for, or the one chosen at the start.
        instance_id: A node restart: the node's InstanceId; a code-package restart: the
            entry point's InstanceId (the start sends it, so the cluster refuses a duplicate).
        application_id: A code-package restart: the application hosting the service.
        service_manifest: ... its service manifest's name.
        code_package: ... the code package's name.
        activation_id: ... its ``ServicePackageActivationId`` (often empty).
        persisted: A stateful service's ``HasPersistedState`` (``None``: stateless or not read).
    """

    replica_id: str | None = attrs.field(default=None, converter=_optional_text)
    node_name: str | None = attrs.field(default=None, converter=_optional_text)
    role: str | None = attrs.field(default=None, converter=_optional_text)
    status: str | None = attrs.field(default=None, converter=_optional_text)
    to_node: str | None = attrs.field(default=None, converter=_optional_text)
    instance_id: str | None = attrs.field(default=None, converter=_optional_text)
    application_id: str | None = attrs.field(default=None, converter=_optional_text)
    service_manifest: str | None = attrs.field(default=None, converter=_optional_text)
    code_package: str | None = attrs.field(default=None, converter=_optional_text)
    activation_id: str | None = attrs.field(default=None, converter=_optional_text)
    persisted: bool | None = attrs.field(default=None, converter=_optional_bool)

    def as_dict(self) -> dict[str, str | bool]:
        """The fields that are set, by name (plain JSON: journals, Chaos Toolkit results).

        Returns:
            Each field that is not ``None``.
        """
        return {name: value for name, value in attrs.asdict(self).items() if value is not None}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Baseline:
        """The baseline :meth:`as_dict` wrote (unknown keys are ignored: a newer writer's).

        Args:
            data: The fields by name.

        Returns:
            The baseline.

        Raises:
            TypeError: A field of the wrong type.
        """
        names = {field.name for field in attrs.fields(cls)}
        return cls(**{name: value for name, value in data.items() if name in names})

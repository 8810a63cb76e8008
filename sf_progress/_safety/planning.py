"""``PlannedFault``: what a start would do now, and whether it may -- a plan that injects nothing."""

from __future__ import annotations

from typing import Any

import attrs

from .._targets import FaultTarget

__all__ = ["PlannedFault"]


@attrs.frozen
class PlannedFault:
    """One fault of a plan (:meth:`ProgressClient.plan`): the target as it would be sent, and what stops it.

    Attributes:
        target: The fault, prepared (a replica, code-package, move or node-restart fault with
            its baseline and the choices made).
        refused: Why the fault does not apply to its target (its target could not be read, or
            the cluster would refuse it), else ``None``.
        forbidden: Each safety rule that forbids it now, as ``(rule, what it saw)``.
    """

    target: FaultTarget
    refused: str | None = None
    forbidden: tuple[tuple[str, str], ...] = ()

    @property
    def allowed(self) -> bool:
        """Whether a start now would be sent."""
        return self.refused is None and not self.forbidden

    def as_dict(self) -> dict[str, Any]:
        """The planned fault as plain JSON (``--plan -o json`` writes one per line).

        Returns:
            ``type`` (its short name), the target's fields, ``operation_id``, ``baseline`` (when
            prepared), ``allowed``, ``refused`` and ``forbidden`` (``[{"rule", "saw"}]``).
        """
        ref = self.target.ref
        fields: dict[str, Any] = {**ref.as_dict(), "type": ref.kind.short_name}
        if ref.baseline is not None:
            fields["baseline"] = ref.baseline.as_dict()
        fields.update(allowed=self.allowed, refused=self.refused,
                      forbidden=[{"rule": rule, "saw": saw} for rule, saw in self.forbidden])
        return fields

"""The fake cluster's injected faults: queued answers and random ones (a base of ``FakeCluster``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from ._scripts import Fault, Injected
from ._wire import ROUTES

__all__ = ["InjectsFaults"]


class InjectsFaults:
    """``inject``, ``set_fault_rate``, ``clear_faults`` and ``pending_faults`` of ``FakeCluster``."""

    _faults: Injected

    def inject(
        self,
        *faults: Fault,
        routes: Iterable[str] | None = None,
        operation_id: str | uuid.UUID | None = None,
        times: int = 1,
    ) -> None:
        """Queue faults, each answering one matching request.

        Args:
            *faults: The answers to give, in order.
            routes: Only requests of these routes (see ``ROUTES``; default: any).
            operation_id: Only requests about this operation.
            times: Queue the faults this many times over.
        """
        selected = None if routes is None else frozenset(routes)
        if selected is not None and not selected <= set(ROUTES):
            raise ValueError(f"routes must be among {ROUTES}")
        op = None if operation_id is None else str(uuid.UUID(str(operation_id)))
        self._faults.queue(faults * times, selected, op)

    def set_fault_rate(
        self, rate: float, faults: Iterable[Fault], *, routes: Iterable[str] = ("progress",), seed: int = 0
    ) -> None:
        """Answer a random fraction of matching requests with one of *faults*.

        Args:
            rate: The fraction, in ``[0, 1]``.
            faults: The answers to choose from.
            routes: Only requests of these routes (default: progress reads).
            seed: Seed of the random choices.
        """
        self._faults.at_rate(rate, faults, frozenset(routes), seed)

    def clear_faults(self) -> None:
        """Drop queued faults and stop random ones."""
        self._faults.clear()

    @property
    def pending_faults(self) -> int:
        """Queued faults not yet used."""
        return len(self._faults)

"""A wait's hold on the client's observer: its interest, "park or read", and its release.

Each wait holds one :class:`Lease`: its interest (how many of its operations may be
listed), the one call that decides "park or read" (:meth:`Lease.park`), and the release
that ends it exactly once.  The observer needs only :class:`Parkable` of an operation
(its ref and a slot for the observer's own record), so the waiting module knows nothing
of it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Protocol

from .._errors import NotFoundError, SFProgressError
from .._models import OperationRef
from .._progress import FaultProgress

__all__ = ["CONFIRM", "GONE", "NONE", "Lease", "ListClient", "Park", "Parkable", "Watcher", "record_of"]

#: The first read confirming what the list says of a parked operation comes after this many
#: seconds parked, each next one twice as late, up to the observer's ``MAX_PARKED``.
FIRST_CONFIRM = 120.0
#: An operation whose read contradicts the list is read on its own backoff for this long.
HOLD = 30.0
# Why the observer last handed an operation back (it judges the read that follows).
NONE, GONE, CONFIRM = 0, 1, 2


class Parkable(Protocol):
    """What the observer needs of a waited-on operation.

    ``ref`` names it (its id and its kind's list bit); ``parking`` is a slot the observer
    owns (``None`` until the operation is first parked).
    """

    @property
    def ref(self) -> OperationRef: ...

    parking: object | None


class Watcher(Protocol):
    """What a lease needs of the client's observer (``_observer.Observer``; this module does not import it)."""

    clock: Callable[[], float]

    def usable(self) -> bool:
        """Whether the list may be used now."""

    def prefers_list(self) -> bool:
        """Whether listing is cheaper than reading, for the waits so far."""

    def crowded(self) -> bool:
        """Whether the list was found not to pay (reads are chosen)."""

    def interest(self, delta: int) -> None:
        """*delta* more (or fewer) operations may be listed."""

    def subscribe(self, op: Parkable, rec: Park) -> None:
        """Park *op*: the list watches it now."""

    def unsubscribe(self, op: Parkable, rec: Park) -> None:
        """Unpark *op*."""

    def judge(self, *, contradicted: bool) -> None:
        """The read after a confirm agreed with the list, or *contradicted* it."""


class ListClient(Protocol):
    """A wait that parks operations: told what the list says of them, and of each list call."""

    def on_listed(self, op: Parkable, raw_state: str) -> None:
        """A tick showed the operation active, in wire state *raw_state*: no read is needed.

        Called on every tick for every parked operation: keep it cheap when the state has
        not changed.
        """

    def on_gone(self, op: Parkable) -> None:
        """The operation must be read now: it left the list, needs confirming, or listing stopped."""

    def on_list_call(self) -> None:
        """A list call was sent on this wait's behalf (counted; charged to its rate)."""


class Park:
    """The observer's record of one operation, created when it is first parked."""

    __slots__ = ("confirm_after", "held_until_at", "key", "lease", "parked_at", "reason", "seq")

    def __init__(self, lease: Lease, key: int) -> None:
        self.lease = lease
        self.key = key  # the operation id's 128-bit number (the ref's own): the observer's key
        self.confirm_after = FIRST_CONFIRM
        self.seq = 0  # > 0 while parked: the observer's generation when it was parked
        self.parked_at = 0.0
        self.reason = NONE
        self.held_until_at = -math.inf


def record_of(op: Parkable) -> Park | None:
    """The observer's record of *op*, if it was ever parked."""
    rec = op.parking
    return rec if isinstance(rec, Park) else None


class Lease:
    """One wait's hold on the observer; made by ``Observer.lease``, ended by :meth:`release`.

    ``coalesce`` is the wait's choice (``None``: the observer decides, ``True``: list
    whenever the list works, ``False``: never); ``max_rate`` paces list calls made for it.
    """

    __slots__ = ("coalesce", "count", "ended", "max_rate", "observer", "owner")

    def __init__(self, observer: Watcher, owner: ListClient, coalesce: bool | None, max_rate: float | None) -> None:
        self.observer, self.owner, self.coalesce, self.max_rate = observer, owner, coalesce, max_rate
        self.count = 0  # operations of this wait that may be listed and have not ended
        self.ended = False

    def listing(self) -> bool:
        """Whether this wait's running operations are watched through the list now."""
        observer = self.observer
        if self.coalesce is False or self.ended or not observer.usable():
            return False
        return self.coalesce is True or observer.prefers_list()

    def crowded(self) -> bool:
        """The list works but costs more than prompt reads would (only for a wait that let us choose)."""
        return self.coalesce is None and not self.ended and self.observer.crowded()

    def add(self, count: int) -> None:
        """*count* operations of this wait began (they may be listed)."""
        if self.coalesce is False or self.ended or count <= 0:
            return
        self.count += count
        self.observer.interest(count)

    def done(self, op: Parkable) -> None:
        """One operation of this wait ended (it is no longer parked, nor counted)."""
        self.unpark(op)
        rec = record_of(op)
        if rec is not None:
            self._judged(rec, contradicted=False)  # it left the list and had ended: the list was right
        if self.count > 0:
            self.count -= 1
            self.observer.interest(-1)

    def park(self, op: Parkable, result: FaultProgress | SFProgressError | None) -> bool:
        """Park *op* with the list (``True``), or say it is to be read on its own backoff (``False``).

        *result* is the read just made (``None`` before the first).  Only an answer that
        says the operation is active (a progress) or not readable yet (404) parks it; a
        failed read keeps its own retry backoff.  A read that contradicts the list (the
        operation left it but reads as active) puts it back on its own backoff for a while
        and counts against listing.
        """
        observer = self.observer
        rec = record_of(op)
        if rec is not None:
            contradicted: bool | None = None  # a failed read says nothing of the list
            if isinstance(result, FaultProgress):
                contradicted = True  # it left the list, yet reads as active
            elif isinstance(result, NotFoundError):
                contradicted = False
            self._judged(rec, contradicted=contradicted)
        if result is not None and not isinstance(result, (FaultProgress, NotFoundError)):
            return False
        if op.ref.kind.verified:  # the list call never shows them: read on their own backoff
            return False
        if not self.listing():
            return False
        if rec is None:
            rec = Park(self, op.ref.operation_id.int)
            op.parking = rec
        elif observer.clock() < rec.held_until_at:
            return False
        observer.subscribe(op, rec)
        return True

    def _judged(self, rec: Park, *, contradicted: bool | None) -> None:
        """The read made because the observer handed *rec*'s operation back: count it for listing.

        Only a read after the list showed the operation gone is judged (``None``: it says
        nothing); a contradicting one keeps the operation on its own backoff for ``HOLD`` s.
        """
        if rec.reason == GONE and contradicted is not None:
            if contradicted:
                rec.held_until_at = self.observer.clock() + HOLD
            self.observer.judge(contradicted=contradicted)
        rec.reason = NONE

    def unpark(self, op: Parkable) -> bool:
        """Take *op* back from the list (its wait reads it now); ``True`` if it was parked."""
        rec = record_of(op)
        if rec is None or rec.seq == 0:
            return False
        self.observer.unsubscribe(op, rec)
        return True

    def release(self, ops: Iterable[Parkable]) -> None:
        """End this lease: unpark *ops* (the wait's pending operations), drop its interest.

        Safe to call more than once; afterwards the lease parks nothing.
        """
        for op in ops:
            self.unpark(op)
        self.ended = True
        count, self.count = self.count, 0
        if count:
            self.observer.interest(-count)

"""sf_progress: an asyncio client for Service Fabric fault operations (restarts, data/quorum loss, nodes)."""

from contextlib import suppress as _suppress

from ._auth import AadMetadata, AadTokenProvider, TokenProvider
from ._batch import BatchSnapshot, BatchWaiter, OperationLike
from ._client import ProgressClient
from ._config import Clock, RetryPolicy, is_testing, set_testing
from ._errors import (
    AuthError,
    BadRequestError,
    ConflictError,
    CredentialError,
    FabricError,
    FabricTransientError,
    NotFoundError,
    OperationKindError,
    OperationNotCompleted,
    RecoveryTimeout,
    ResponseFormatError,
    SFProgressError,
    TLSError,
    TransportError,
    TransportTimeout,
    WaitTimeout,
)
from ._journal import JournalError
from ._models import (
    DataLossMode,
    FaultOperation,
    FaultProgress,
    InvokeDataLossResult,
    InvokeQuorumLossResult,
    NodeResult,
    NodeTransitionProgress,
    NodeTransitionResult,
    NodeTransitionType,
    OperationRef,
    OperationState,
    OperationType,
    PartitionDataLossProgress,
    PartitionQuorumLossProgress,
    PartitionRestartProgress,
    QuorumLossMode,
    RestartPartitionMode,
    RestartPartitionResult,
    SelectedPartition,
)
from ._recovery import HealthState, NodeFacts, PartitionFacts, Recovery
from ._run import FaultRun, RunResult
from ._security import TLSConfig
from ._targets import DataLossSpec, FaultTarget, NodeTransitionSpec, QuorumLossSpec, RestartSpec, StartSpec
from ._version import __version__
from ._waiting import Backoff, Event, EventHook, GaveUp, Outcome, OutcomeKind, Retrying, StateChanged
from ._waits import ProgressHook


def discover(discover_system: bool = True) -> dict[str, object]:
    """Chaos Toolkit discovery of ``sf_progress.chaostoolkit`` (``chaos discover --no-install sf_progress``).

    Needs the ``chaostoolkit`` extra; imported only when called, so ``import sf_progress``
    pays nothing for it.

    Args:
        discover_system: Include the system's information, as the toolkit's discovery does.

    Returns:
        The toolkit's discovery document: every activity with its arguments.
    """
    from .chaostoolkit import discover as discover_activities

    return discover_activities(discover_system)


__all__ = [
    "AadMetadata",
    "AadTokenProvider",
    "AuthError",
    "Backoff",
    "BadRequestError",
    "BatchSnapshot",
    "BatchWaiter",
    "Clock",
    "ConflictError",
    "CredentialError",
    "DataLossMode",
    "DataLossSpec",
    "Event",
    "EventHook",
    "FabricError",
    "FabricTransientError",
    "FaultOperation",
    "FaultProgress",
    "FaultRun",
    "FaultTarget",
    "GaveUp",
    "HealthState",
    "InvokeDataLossResult",
    "InvokeQuorumLossResult",
    "JournalError",
    "NodeFacts",
    "NodeResult",
    "NodeTransitionProgress",
    "NodeTransitionResult",
    "NodeTransitionSpec",
    "NodeTransitionType",
    "NotFoundError",
    "OperationKindError",
    "OperationLike",
    "OperationNotCompleted",
    "OperationRef",
    "OperationState",
    "OperationType",
    "Outcome",
    "OutcomeKind",
    "PartitionDataLossProgress",
    "PartitionFacts",
    "PartitionQuorumLossProgress",
    "PartitionRestartProgress",
    "ProgressClient",
    "ProgressHook",
    "QuorumLossMode",
    "QuorumLossSpec",
    "Recovery",
    "RecoveryTimeout",
    "ResponseFormatError",
    "RestartPartitionMode",
    "RestartPartitionResult",
    "RestartSpec",
    "RetryPolicy",
    "Retrying",
    "RunResult",
    "SFProgressError",
    "SelectedPartition",
    "StartSpec",
    "StateChanged",
    "TLSConfig",
    "TLSError",
    "TokenProvider",
    "TransportError",
    "TransportTimeout",
    "WaitTimeout",
    "__version__",
    "discover",
    "is_testing",
    "set_testing",
]


def _public_home() -> None:
    """Name ``sf_progress`` as the home of every export (as httpx does), not its private module.

    Tracebacks, ``help()``, pickles and the API reference then show ``sf_progress.OperationRef``,
    the one spelling users write, instead of ``sf_progress._models.OperationRef``.
    """
    namespace = globals()
    for name in __all__:
        obj = namespace[name]
        module = getattr(obj, "__module__", "")
        if callable(obj) and isinstance(module, str) and module.startswith("sf_progress._"):
            with _suppress(AttributeError, TypeError):  # a typing alias keeps its own
                obj.__module__ = __name__


_public_home()

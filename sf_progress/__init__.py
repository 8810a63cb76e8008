"""sf_progress: an asyncio client for Service Fabric partition-restart progress."""

from ._auth import AadMetadata, AadTokenProvider
from ._batch import BatchSnapshot, BatchWaiter
from ._client import ProgressClient
from ._config import RetryPolicy, is_testing, set_testing
from ._errors import (
    AuthError,
    BadRequestError,
    ConflictError,
    CredentialError,
    FabricError,
    FabricTransientError,
    NotFoundError,
    OperationFailed,
    ResponseFormatError,
    SFProgressError,
    TLSError,
    TransportError,
    TransportTimeout,
    WaitTimeout,
)
from ._models import (
    FaultOperation,
    OperationRef,
    OperationState,
    OperationType,
    PartitionRestartProgress,
    RestartPartitionMode,
    RestartPartitionResult,
    SelectedPartition,
)
from ._security import TLSConfig
from ._version import __version__
from ._waiting import Backoff, Event, GaveUp, Outcome, OutcomeKind, Retrying, StateChanged

__all__ = [
    "AadMetadata",
    "AadTokenProvider",
    "AuthError",
    "Backoff",
    "BadRequestError",
    "BatchSnapshot",
    "BatchWaiter",
    "ConflictError",
    "CredentialError",
    "Event",
    "FabricError",
    "FabricTransientError",
    "FaultOperation",
    "GaveUp",
    "NotFoundError",
    "OperationFailed",
    "OperationRef",
    "OperationState",
    "OperationType",
    "Outcome",
    "OutcomeKind",
    "PartitionRestartProgress",
    "ProgressClient",
    "ResponseFormatError",
    "RestartPartitionMode",
    "RestartPartitionResult",
    "RetryPolicy",
    "Retrying",
    "SFProgressError",
    "SelectedPartition",
    "StateChanged",
    "TLSConfig",
    "TLSError",
    "TransportError",
    "TransportTimeout",
    "WaitTimeout",
    "__version__",
    "is_testing",
    "set_testing",
]

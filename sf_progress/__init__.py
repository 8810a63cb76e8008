"""sf_progress: an asyncio client for Service Fabric partition-restart progress."""

from ._client import ProgressClient
from ._config import RetryPolicy, is_testing, set_testing
from ._errors import (
    AuthError,
    BadRequestError,
    ConflictError,
    FabricError,
    FabricTransientError,
    NotFoundError,
    ResponseFormatError,
    SFProgressError,
    TransportError,
    TransportTimeout,
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
from ._version import __version__

__all__ = [
    "AuthError",
    "BadRequestError",
    "ConflictError",
    "FabricError",
    "FabricTransientError",
    "FaultOperation",
    "NotFoundError",
    "OperationRef",
    "OperationState",
    "OperationType",
    "PartitionRestartProgress",
    "ProgressClient",
    "ResponseFormatError",
    "RestartPartitionMode",
    "RestartPartitionResult",
    "RetryPolicy",
    "SFProgressError",
    "SelectedPartition",
    "TransportError",
    "TransportTimeout",
    "__version__",
    "is_testing",
    "set_testing",
]

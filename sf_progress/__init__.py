"""sf_progress: an asyncio client for Service Fabric fault operations (restarts, data/quorum loss, nodes)."""

from contextlib import suppress as _suppress
from typing import Any as _Any

from ._baseline import Baseline
from ._campaign.journal import JournalError, read_journal
from ._campaign.results import Downtime, Gates, ResultReason, RunResult, RunSnapshot, TargetSnapshot, TargetStatus
from ._campaign.run import FaultRun
from ._chaos import ChaosParameters, ChaosSchedule, ChaosScheduleJob, ChaosStateError, ChaosStatus
from ._chaos_events import ChaosEvent, ChaosEventKind, ChaosFault
from ._client import ProgressClient
from ._config import Clock, RetryPolicy, is_testing, set_testing
from ._connection import Connection
from ._errors import (
    AuthError,
    BadRequestError,
    ClusterMismatchError,
    ConflictError,
    CredentialError,
    FabricError,
    FabricTransientError,
    GatewayUnreachable,
    NotFoundError,
    OperationKindError,
    OperationNotCompleted,
    RecoveryTimeout,
    ResponseFormatError,
    SafetyError,
    SFProgressError,
    TLSError,
    TransportError,
    TransportTimeout,
    UnsupportedFaultError,
    WaitTimeout,
)
from ._facts import HealthState, NodeFacts, PartitionFacts, Recovery
from ._hresults import hresult_name
from ._lever import LeverState
from ._models import FaultOperation, OperationRef, OperationState, OperationType
from ._params import Parameter
from ._preflight import Check, CheckStatus, Preflight
from ._progress import (
    FaultProgress,
    InvokeDataLossResult,
    InvokeQuorumLossResult,
    NodeResult,
    NodeTransitionProgress,
    NodeTransitionResult,
    PartitionDataLossProgress,
    PartitionQuorumLossProgress,
    PartitionRestartProgress,
    RestartPartitionResult,
    SelectedPartition,
    Verification,
    VerifiedProgress,
)
from ._safety.planning import PlannedFault
from ._scenario.events import ScenarioEvent, ScenarioEventKind, ScenarioVerdict, StopReason
from ._scenario.model import FaultStep, Scenario
from ._scenario.runner import ScenarioRun
from ._scenario.validation import ServiceValidation
from ._specs import (
    DataLossMode,
    DataLossSpec,
    NodeTransitionSpec,
    NodeTransitionType,
    QuorumLossMode,
    QuorumLossSpec,
    RestartPartitionMode,
    RestartSpec,
)
from ._targets import FaultTarget, StartSpec
from ._verified.specs import (
    CodePackageRestartSpec,
    InstanceMoveSpec,
    NodeRestartSpec,
    PrimaryMoveSpec,
    ReplicaRemoveSpec,
    ReplicaRestartSpec,
    SecondaryMoveSpec,
)
from ._version import __version__
from ._wait.batch import BatchSnapshot, BatchWaiter
from ._wait.machine import Backoff, Event, EventHook, GaveUp, Outcome, OutcomeKind, Retrying, StateChanged
from ._wait.options import WaitOptions
from ._wait.waits import ProgressHook
from ._wire.auth import AadMetadata, AadTokenProvider, TokenProvider
from ._wire.security import TLSConfig

#: The Chaos Toolkit activity modules, by kind of activity (named, not imported, here).
_ACTIVITIES = (
    ("action", "sf_progress.chaostoolkit.actions"),
    ("action", "sf_progress.chaostoolkit.faults"),
    ("probe", "sf_progress.chaostoolkit.probes"),
    ("action", "sf_progress.chaostoolkit.rollbacks"),
    ("action", "sf_progress.chaostoolkit.scenarios"),
)


def discover(discover_system: bool = True) -> dict[str, object]:
    """Chaos Toolkit discovery of ``sf_progress.chaostoolkit`` (``chaos discover --no-install sf_progress``).

    Needs the ``chaostoolkit`` extra; chaoslib imports the activity modules by name when
    this is called, so ``import sf_progress`` pays nothing for them.

    Args:
        discover_system: Include the system's information, as the toolkit's discovery does.

    Returns:
        The toolkit's discovery document: every activity with its arguments.
    """
    from chaoslib.discovery.discover import discover_actions, discover_probes, initialize_discovery_result

    discovery: dict[str, _Any] = initialize_discovery_result("sf_progress", __version__, "service-fabric")
    for kind, module in _ACTIVITIES:
        discovery["activities"].extend(discover_probes(module) if kind == "probe" else discover_actions(module))
    return discovery


__all__ = [
    "AadMetadata",
    "AadTokenProvider",
    "AuthError",
    "Backoff",
    "BadRequestError",
    "Baseline",
    "BatchSnapshot",
    "BatchWaiter",
    "ChaosEvent",
    "ChaosEventKind",
    "ChaosFault",
    "ChaosParameters",
    "ChaosSchedule",
    "ChaosScheduleJob",
    "ChaosStateError",
    "ChaosStatus",
    "Check",
    "CheckStatus",
    "Clock",
    "ClusterMismatchError",
    "CodePackageRestartSpec",
    "ConflictError",
    "Connection",
    "CredentialError",
    "DataLossMode",
    "DataLossSpec",
    "Downtime",
    "Event",
    "EventHook",
    "FabricError",
    "FabricTransientError",
    "FaultOperation",
    "FaultProgress",
    "FaultRun",
    "FaultStep",
    "FaultTarget",
    "Gates",
    "GatewayUnreachable",
    "GaveUp",
    "HealthState",
    "InstanceMoveSpec",
    "InvokeDataLossResult",
    "InvokeQuorumLossResult",
    "JournalError",
    "LeverState",
    "NodeFacts",
    "NodeRestartSpec",
    "NodeResult",
    "NodeTransitionProgress",
    "NodeTransitionResult",
    "NodeTransitionSpec",
    "NodeTransitionType",
    "NotFoundError",
    "OperationKindError",
    "OperationNotCompleted",
    "OperationRef",
    "OperationState",
    "OperationType",
    "Outcome",
    "OutcomeKind",
    "Parameter",
    "PartitionDataLossProgress",
    "PartitionFacts",
    "PartitionQuorumLossProgress",
    "PartitionRestartProgress",
    "PlannedFault",
    "Preflight",
    "PrimaryMoveSpec",
    "ProgressClient",
    "ProgressHook",
    "QuorumLossMode",
    "QuorumLossSpec",
    "Recovery",
    "RecoveryTimeout",
    "ReplicaRemoveSpec",
    "ReplicaRestartSpec",
    "ResponseFormatError",
    "RestartPartitionMode",
    "RestartPartitionResult",
    "RestartSpec",
    "ResultReason",
    "RetryPolicy",
    "Retrying",
    "RunResult",
    "RunSnapshot",
    "SFProgressError",
    "SafetyError",
    "Scenario",
    "ScenarioEvent",
    "ScenarioEventKind",
    "ScenarioRun",
    "ScenarioVerdict",
    "SecondaryMoveSpec",
    "SelectedPartition",
    "ServiceValidation",
    "StartSpec",
    "StateChanged",
    "StopReason",
    "TLSConfig",
    "TLSError",
    "TargetSnapshot",
    "TargetStatus",
    "TokenProvider",
    "TransportError",
    "TransportTimeout",
    "UnsupportedFaultError",
    "Verification",
    "VerifiedProgress",
    "WaitOptions",
    "WaitTimeout",
    "__version__",
    "discover",
    "hresult_name",
    "is_testing",
    "read_journal",
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

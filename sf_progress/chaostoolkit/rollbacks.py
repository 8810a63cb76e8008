"""Chaos Toolkit rollbacks: cancel a fault, or every fault this experiment's actions started that is still active."""

import uuid
from typing import Any, Dict, List  # noqa: UP035 - the types Chaos Toolkit reads

from .. import NotFoundError, SFProgressError
from ._common import STARTED, failed, server_timeout
from ._connect import client_for, flag, logger

__all__ = ["cancel_fault", "cancel_started_faults"]


def cancel_fault(
    operation_id: str,
    force: bool = False,
    timeout: float = 60,
    *,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> Dict[str, Any]:  # noqa: UP006
    """Cancel a running fault operation.

    Args:
        operation_id: The operation's GUID.
        force: Force the cancel (only after a graceful one).
        timeout: The call's server timeout, seconds.
        configuration: The experiment's configuration.
        secrets: The experiment's secrets.

    Returns:
        ``{"operation_id": ..., "cancelled": True}``.

    Raises:
        ActivityFailed: A bad id or any sf_progress error.
    """
    try:
        force = flag(force, "force")  # "false" from an experiment file is False, not a truthy string
        op_id = uuid.UUID(str(operation_id))
        seconds = server_timeout(timeout)
    except (ValueError, TypeError) as exc:
        raise failed("cancel_fault: bad arguments", exc) from None
    with client_for(configuration, secrets) as client:
        try:
            client.cancel_operation(op_id, force=force, timeout=seconds)
        except (ValueError, TypeError, SFProgressError) as exc:
            raise failed("cancel_fault", exc) from None
    return {"operation_id": str(operation_id), "cancelled": True}


def cancel_started_faults(
    force: bool = False,
    timeout: float = 60,
    *,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> List[Dict[str, Any]]:  # noqa: UP006
    """Cancel every fault the actions of this run started that is still active.

    Args:
        force: Force the cancels.
        timeout: Each call's server timeout, seconds.
        configuration: The experiment's configuration.
        secrets: The experiment's secrets.

    A start interrupted in flight (Ctrl-C, a lost answer) is included: it is recorded before it
    is sent, and cancelled if the cluster has it (one it does not know was never started).

    Returns:
        One ``{"operation_id": ..., "type": ...}`` per fault cancelled (``type`` is the wire name of
        its kind, e.g. ``PartitionRestart``); faults already ended, never started, or that could not
        be cancelled (logged), are left out.
    """
    try:
        force = flag(force, "force")
        seconds = server_timeout(timeout)
    except (ValueError, TypeError) as exc:
        raise failed("cancel_started_faults: bad arguments", exc) from None
    cancelled = []
    with client_for(configuration, secrets) as client:
        for ref in list(STARTED):
            if ref.kind.verified:  # a replica, code-package, move or node restart: nothing to cancel
                continue
            try:
                if client.get_progress(ref, timeout=seconds).is_terminal:
                    continue
                client.cancel_operation(ref, force=force, timeout=seconds)
            except NotFoundError:  # its start never landed
                logger.info("sf_progress: %s was never started; nothing to cancel", ref)
                continue
            except SFProgressError as exc:  # one that cannot be cancelled never stops the others
                logger.warning("sf_progress: could not cancel %s: %s", ref, exc)
                continue
            logger.info("sf_progress: cancelled %s", ref)
            cancelled.append({"operation_id": str(ref.operation_id), "type": ref.kind.value})
    return cancelled

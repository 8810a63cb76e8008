"""The names of the HRESULTs a fault's result carries (``ErrorCode``), for people to read."""

from __future__ import annotations

__all__ = ["HRESULT_NAMES", "hresult_name"]


#: The names of the HRESULTs a fault's result carries (sf-rest-api.md §3.3; faults-beyond-fas-protocol.md).
HRESULT_NAMES = {
    -2147017796: "FABRIC_E_COMMUNICATION_ERROR",
    -2147017791: "FABRIC_E_NAME_DOES_NOT_EXIST",
    -2147017786: "FABRIC_E_NOT_PRIMARY",
    -2147017785: "FABRIC_E_NOT_READY",
    -2147017782: "FABRIC_E_RECONFIGURATION_PENDING",
    -2147017779: "FABRIC_E_SERVICE_DOES_NOT_EXIST",
    -2147017753: "FABRIC_E_PARTITION_NOT_FOUND",
    -2147017729: "FABRIC_E_TIMEOUT",
    -2147017709: "FABRIC_E_KEY_NOT_FOUND",
    -2147017691: "FABRIC_E_SERVICE_TOO_BUSY",
    -2147017645: "FABRIC_E_INVALID_TEST_COMMAND_STATE",
    -2147017644: "FABRIC_E_TEST_COMMAND_OPERATION_ID_ALREADY_EXISTS",
    -2147017629: "FABRIC_E_INVALID_DURATION",
    -2147017616: "FABRIC_E_INVALID_FOR_STATELESS_SERVICES",
    -2147017615: "FABRIC_E_ONLY_VALID_FOR_STATEFUL_PERSISTENT_SERVICES",
    -2147017607: "FABRIC_E_FAULT_ANALYSIS_SERVICE_NOT_ENABLED",
    -2147017462: "FMFailoverUnitNotFound",
    -2147467260: "E_ABORT",
    -2147024809: "E_INVALIDARG",
}


def hresult_name(code: int | None) -> str | None:
    """The name of an HRESULT a fault's result carries, or ``None`` (0, unknown, or no code).

    Args:
        code: The ``ErrorCode``, as a signed 32-bit integer.

    Returns:
        E.g. ``"FABRIC_E_TIMEOUT"`` for ``-2147017729``.
    """
    return None if not code else HRESULT_NAMES.get(code)

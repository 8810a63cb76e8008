"""Connection settings of the activities: the experiment's ``configuration`` and ``secrets`` → a client.

Configuration keys: ``sf_endpoint`` (or sfctl-style ``endpoint``; default
``http://localhost:19080``), ``sf_verify`` / ``verify_tls`` (bool), ``sf_ca`` (a CA bundle
file or directory), ``sf_server_thumbprints`` (a list or a comma-separated string),
``sf_api_version``, ``sf_server_timeout``, ``sf_allow_insecure_http``, and ``config_path``
(an sfctl-style JSON file with those keys).  Secrets: ``pem_path`` or ``pem_content`` (a
PEM holding certificate and key), ``cert_path`` + ``key_path``, ``pfx_path`` +
``pfx_password``, ``key_password``, and ``token`` (a bearer token).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import tempfile
from collections.abc import Iterator, Mapping
from typing import Any

from .. import SFProgressError, TLSConfig
from ..sync import SyncProgressClient

__all__ = ["client_for", "logger"]

#: Extensions log through the toolkit's logger, so the messages reach ``chaostoolkit.log``.
logger = logging.getLogger("chaostoolkit")


class _ToToolkit(logging.Handler):
    """Hands sf_progress's own log records to the toolkit's handlers (its log file, its console).

    Only to the ``chaostoolkit`` logger's own handlers: the record still propagates from
    ``sf_progress`` as usual, so nothing is logged twice.
    """

    def emit(self, record: logging.LogRecord) -> None:
        for handler in logger.handlers:
            if record.levelno >= handler.level:
                handler.handle(record)


_library = logging.getLogger("sf_progress")
if not any(isinstance(handler, _ToToolkit) for handler in _library.handlers):
    _library.addHandler(_ToToolkit())
_temp_files: list[str] = []


@atexit.register
def _remove_temp_files() -> None:
    for path in _temp_files:
        with contextlib.suppress(OSError):
            os.remove(path)


def _settings(configuration: Mapping[str, Any] | None) -> dict[str, Any]:
    settings = dict(configuration or {})
    path = settings.get("config_path")
    if path:
        try:
            with open(os.path.expanduser(str(path)), encoding="utf-8") as file:
                from_file = json.load(file)
        except (OSError, ValueError) as exc:
            raise ValueError(f"config_path {path!r} cannot be read as JSON: {exc}") from None
        if not isinstance(from_file, dict):
            raise ValueError(f"config_path {path!r} does not hold a JSON object")
        settings = {**from_file, **settings}
    return settings


def _pem_file(content: str) -> str:
    handle, path = tempfile.mkstemp(prefix="sf_progress-", suffix=".pem")
    with os.fdopen(handle, "w", encoding="utf-8") as file:
        file.write(content)
    _temp_files.append(path)
    return path


def _flag(value: object, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.strip().lower() in ("true", "1", "yes")
    raise ValueError(f"{name} must be true or false, got {value!r}")


def options(configuration: Mapping[str, Any] | None, secrets: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ``ProgressClient`` options the configuration and secrets say."""
    settings = _settings(configuration)
    secret = dict(secrets or {})
    endpoint = str(settings.get("sf_endpoint") or settings.get("endpoint") or "http://localhost:19080")
    verify: bool | str = True
    for key in ("sf_verify", "verify_tls"):
        if key in settings:
            verify = _flag(settings[key], key)
    if settings.get("sf_ca"):
        verify = str(settings["sf_ca"])
    pins = settings.get("sf_server_thumbprints")
    if isinstance(pins, str):
        pins = [pin.strip() for pin in pins.split(",") if pin.strip()]
    cert: Any = None
    password = secret.get("key_password")
    if secret.get("pem_content"):
        cert = _pem_file(str(secret["pem_content"]))
    elif secret.get("pem_path"):
        cert = str(secret["pem_path"])
    elif secret.get("cert_path") or secret.get("key_path"):
        cert = (str(secret.get("cert_path")), str(secret.get("key_path")))
    elif secret.get("pfx_path"):
        cert, password = str(secret["pfx_path"]), secret.get("pfx_password")
    insecure = _flag(settings.get("sf_allow_insecure_http", False), "sf_allow_insecure_http")
    tls = TLSConfig(
        cert=cert, cert_password=password, verify=verify, server_thumbprints=pins or None, allow_insecure_http=insecure
    )
    opts: dict[str, Any] = {"endpoint": endpoint, "tls": tls}
    token = secret.get("token")
    if token:
        opts["token_provider"] = lambda: str(token)
    if settings.get("sf_api_version"):
        opts["api_version"] = str(settings["sf_api_version"])
    if settings.get("sf_server_timeout"):
        opts["server_timeout"] = int(settings["sf_server_timeout"])
    return opts


@contextlib.contextmanager
def client_for(
    configuration: Mapping[str, Any] | None, secrets: Mapping[str, Any] | None
) -> Iterator[SyncProgressClient]:
    """A blocking client for one activity, closed after it; bad settings are a clear error."""
    try:
        opts = options(configuration, secrets)
        endpoint = opts.pop("endpoint")
        client = SyncProgressClient(endpoint, **opts)
    except (ValueError, TypeError, SFProgressError) as exc:
        raise ValueError(f"sf_progress connection settings: {exc}") from None
    try:
        yield client
    finally:
        client.close()

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
import hashlib
import json
import logging
import os
import tempfile
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import attrs

from .. import Connection, RetryPolicy, SFProgressError
from ..sync import SyncProgressClient

__all__ = ["client_for", "flag", "logger"]

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


class _Records:
    """While activities run, sf_progress makes its INFO and DEBUG records for the toolkit's handlers.

    Without a level of its own the ``sf_progress`` logger's records below the root's WARNING are
    never made.  The level is set only while activities run (the toolkit may run background
    ones), and only if the application set none, so nothing else in the process sees
    sf_progress's records change.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.ours = False  # the level is the one we set (we restore it)

    @contextlib.contextmanager
    def during_activity(self) -> Iterator[None]:
        with self.lock:
            self.running += 1
            if self.running == 1 and _library.level == logging.NOTSET:
                _library.setLevel(logging.DEBUG)
                self.ours = True
        try:
            yield
        finally:
            with self.lock:
                self.running -= 1
                if self.running == 0 and self.ours:
                    _library.setLevel(logging.NOTSET)
                    self.ours = False


_records = _Records()
#: The private files holding ``pem_content``: one per distinct content (by its SHA-256), with how
#: many activities use it now; removed when the last one ends (and, failing that, at exit).
_pem_files: dict[str, list[Any]] = {}


@atexit.register
def _remove_temp_files() -> None:
    for path, _ in _pem_files.values():
        with contextlib.suppress(OSError):
            os.remove(path)
    _pem_files.clear()


def _pem_key(content: str) -> str:
    return hashlib.sha256(content.encode()).hexdigest()


@contextlib.contextmanager
def _using_pem(secrets: Mapping[str, Any] | None) -> Iterator[None]:
    """Hold the ``pem_content`` file of *secrets* (if any) for one activity; remove it after the last user."""
    content = (secrets or {}).get("pem_content")
    key = _pem_key(str(content)) if content else None
    entry = _pem_files.get(key) if key is not None else None
    if entry is not None:
        entry[1] += 1
    try:
        yield
    finally:
        if entry is not None:
            entry[1] -= 1
            if entry[1] <= 0 and _pem_files.get(key or "") is entry:
                del _pem_files[key or ""]
                with contextlib.suppress(OSError):
                    os.remove(entry[0])


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
    """The private (0600) file holding *content*: the one already written for it, or a new one."""
    key = _pem_key(content)
    entry = _pem_files.get(key)
    if entry is not None and os.path.exists(entry[0]):
        return str(entry[0])
    handle, path = tempfile.mkstemp(prefix="sf_progress-", suffix=".pem")  # mode 0600
    with os.fdopen(handle, "w", encoding="utf-8") as file:
        file.write(content)
    _pem_files[key] = [path, 0]
    return path


def flag(value: object, name: str) -> bool:
    """A flag the toolkit may pass as a bool or as text (``"false"``, ``"0"``, ``"no"``...), or ``ValueError``."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.strip().lower() in ("true", "1", "yes")
    raise ValueError(f"{name} must be true or false, got {value!r}")


def connection(configuration: Mapping[str, Any] | None, secrets: Mapping[str, Any] | None) -> Connection:
    """The :class:`~sf_progress.Connection` the configuration and secrets say (checked as the CLI's flags are)."""
    settings = _settings(configuration)
    secret = dict(secrets or {})
    verify = True
    for key in ("sf_verify", "verify_tls"):
        if key in settings:
            verify = flag(settings[key], key)
    pem = secret.get("pem_path")
    if secret.get("pem_content"):
        pem = _pem_file(str(secret["pem_content"]))
    fields: dict[str, Any] = {
        "endpoint": str(settings.get("sf_endpoint") or settings.get("endpoint") or Connection().endpoint),
        "pem": pem,
        "cert": secret.get("cert_path"),
        "key": secret.get("key_path"),
        "key_password": secret.get("key_password"),
        "pfx": secret.get("pfx_path"),
        "pfx_password": secret.get("pfx_password"),
        "ca": settings.get("sf_ca"),
        "server_thumbprints": settings.get("sf_server_thumbprints"),
        "verify": verify,
        "token": secret.get("token"),
        "allow_insecure_http": flag(settings.get("sf_allow_insecure_http", False), "sf_allow_insecure_http"),
    }
    if settings.get("sf_api_version"):
        fields["api_version"] = str(settings["sf_api_version"])
    if settings.get("sf_server_timeout"):
        fields["server_timeout"] = int(settings["sf_server_timeout"])
    if settings.get("sf_cluster"):
        fields["cluster"] = str(settings["sf_cluster"])
    if settings.get("sf_allow"):  # safety rules waived: a name, "all", a list or comma-separated names
        fields["allow"] = settings["sf_allow"]
    if settings.get("sf_forbid_health"):
        fields["forbid_health"] = str(settings["sf_forbid_health"])
    for key in ("key_password", "pfx_password", "token"):  # a secret given as a number is still its text
        if fields[key] is not None:
            fields[key] = str(fields[key])
    return Connection(**fields)


@contextlib.contextmanager
def client_for(
    configuration: Mapping[str, Any] | None, secrets: Mapping[str, Any] | None, *, budget: float | None = None
) -> Iterator[SyncProgressClient]:
    """A blocking client for one activity, closed after it; bad settings are a clear error.

    A ``pem_content`` secret is written to one private file per distinct content, removed when the
    last activity using it ends.  *budget*: no retry of a request starts after that many seconds
    (an activity's ``timeout``; the default policy's 60 s otherwise).
    """
    with contextlib.ExitStack() as stack:
        stack.enter_context(_records.during_activity())
        try:
            settings = connection(configuration, secrets)
            stack.enter_context(_using_pem(secrets))
            options = settings.client_options()
            if budget is not None:
                policy = options.get("retry") or RetryPolicy()
                options["retry"] = attrs.evolve(policy, budget=min(budget, policy.budget or budget))
            client = SyncProgressClient(**options)
        except (ValueError, TypeError, SFProgressError) as exc:
            raise ValueError(f"sf_progress connection settings: {exc}") from None
        try:
            yield client
        finally:
            client.close()

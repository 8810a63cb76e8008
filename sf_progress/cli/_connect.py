"""Connection options shared by every command, read from flags or ``SF_*`` variables."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, TypeVar

import click

from .. import Connection, ProgressClient

F = TypeVar("F", bound=Callable[..., Any])

_OPTIONS = [
    click.option(
        "--endpoint",
        envvar="SF_ENDPOINT",
        default=Connection().endpoint,
        show_default=True,
        help="The cluster's HTTP gateway [env SF_ENDPOINT].",
    ),
    click.option(
        "--pem",
        envvar="SF_PEM",
        type=click.Path(dir_okay=False),
        help="Client certificate and key in one PEM file [env SF_PEM].",
    ),
    click.option(
        "--cert",
        envvar="SF_CERT",
        type=click.Path(dir_okay=False),
        help="Client certificate PEM (with --key) [env SF_CERT].",
    ),
    click.option(
        "--key",
        envvar="SF_KEY",
        type=click.Path(dir_okay=False),
        help="Client private key PEM (with --cert) [env SF_KEY].",
    ),
    click.option(
        "--key-password-env",
        metavar="VAR",
        help="Environment variable holding the password of an encrypted --key/--pem.",
    ),
    click.option(
        "--pfx",
        envvar="SF_PFX",
        type=click.Path(dir_okay=False),
        help="Client certificate as PKCS#12 (.pfx/.p12) [env SF_PFX].",
    ),
    click.option("--pfx-password-env", metavar="VAR", help="Environment variable holding the --pfx password."),
    click.option(
        "--ca", envvar="SF_CA", type=click.Path(), help="CA bundle file or directory to verify the server [env SF_CA]."
    ),
    click.option(
        "--server-thumbprint",
        "server_thumbprints",
        multiple=True,
        envvar="SF_SERVER_THUMBPRINT",
        metavar="HEX",
        help="Pin the server certificate by SHA-1/SHA-256 thumbprint (repeatable; replaces CA and name checks).",
    ),
    click.option(
        "--no-verify",
        is_flag=True,
        help="UNSAFE: do not verify the server certificate at all. Anyone on the path can impersonate the cluster.",
    ),
    click.option("--token-env", metavar="VAR", help="Environment variable holding a bearer token."),
    click.option("--aad", is_flag=True, help="Azure AD sign-in with azure-identity's DefaultAzureCredential."),
    click.option(
        "--allow-insecure-http", is_flag=True, help="Allow a token or certificate over plain http:// (not recommended)."
    ),
    click.option(
        "--api-version",
        envvar="SF_API_VERSION",
        default=Connection().api_version,
        show_default=True,
        help="api-version of progress reads.",
    ),
    click.option(
        "--server-timeout",
        envvar="SF_SERVER_TIMEOUT",
        type=click.IntRange(1, 4294967295),
        default=Connection().server_timeout,
        show_default=True,
        help="Server timeout of each request, in seconds.",
    ),
    click.option(
        "--cluster",
        envvar="SF_CLUSTER",
        metavar="NAME",
        help="The cluster intended: its manifest's Name must match before the first start, or nothing is "
        "sent [env SF_CLUSTER].",
    ),
    click.option(
        "--allow",
        envvar="SF_ALLOW",
        metavar="RULE[,RULE...]",
        help="Waive these safety rules (upgrade, app-upgrade, repair, chaos, health, node-health, seed-quorum, "
        "domains, or all); every start is held to the others, and refused (exit 8) when one forbids it "
        "[env SF_ALLOW].",
    ),
    click.option(
        "--forbid-health",
        type=click.Choice(["Error", "Warning"], case_sensitive=False),
        default="Error",
        show_default=True,
        help="The cluster health that forbids faults (the health rule).",
    ),
]

_KEYS = (
    "endpoint",
    "pem",
    "cert",
    "key",
    "key_password_env",
    "pfx",
    "pfx_password_env",
    "ca",
    "server_thumbprints",
    "no_verify",
    "token_env",
    "aad",
    "allow_insecure_http",
    "api_version",
    "server_timeout",
    "cluster",
    "allow",
    "forbid_health",
)


def connection_options(func: F) -> F:
    """Add the connection options to a command; it receives ``connect`` (a client factory)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        options = {key: kwargs.pop(key) for key in _KEYS}
        kwargs["connect"] = functools.partial(make_client, **options)
        return func(*args, **kwargs)

    for option in reversed(_OPTIONS):
        wrapper = option(wrapper)
    return wrapper  # type: ignore[return-value]


def _secret_from_env(var: str | None, what: str) -> str | None:
    if var is None:
        return None
    value = os.environ.get(var)
    if not value:
        raise click.UsageError(f"{what}: environment variable {var} is not set or empty")
    return value


def make_client(
    *,
    endpoint: str,
    pem: str | None,
    cert: str | None,
    key: str | None,
    key_password_env: str | None,
    pfx: str | None,
    pfx_password_env: str | None,
    ca: str | None,
    server_thumbprints: tuple[str, ...],
    no_verify: bool,
    token_env: str | None,
    aad: bool,
    allow_insecure_http: bool,
    api_version: str,
    server_timeout: int,
    cluster: str | None,
    allow: str | None = None,
    forbid_health: str = "Error",
) -> ProgressClient:
    """Build the ProgressClient the options describe (bad combinations are usage errors).

    The flags fill one :class:`~sf_progress.Connection`, which checks them as it checks the
    Chaos Toolkit layer's settings; only reading secrets from the environment happens here.
    """
    try:
        connection = Connection(
            endpoint=endpoint,
            pem=pem,
            cert=cert,
            key=key,
            key_password=_secret_from_env(key_password_env, "--key-password-env") if not pfx else None,
            pfx=pfx,
            pfx_password=_secret_from_env(pfx_password_env, "--pfx-password-env") if pfx else None,
            ca=ca,
            server_thumbprints=server_thumbprints,
            verify=not no_verify,
            token=_secret_from_env(token_env, "--token-env"),
            aad=aad,
            allow_insecure_http=allow_insecure_http,
            api_version=api_version,
            server_timeout=server_timeout,
            cluster=cluster,
            allow=allow,
            forbid_health=forbid_health,
        )
        return ProgressClient(**connection.client_options())
    except (ValueError, TypeError) as exc:
        raise click.UsageError(f"connection settings: {exc}") from None


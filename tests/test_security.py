"""TLS client certificates, server verification and pinning, bearer tokens and Azure AD —
over real TLS on loopback, with certificates made here (trustme + cryptography)."""

from __future__ import annotations

import base64
import functools
import json
import logging
import ssl
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import attrs
import pytest
import pytest_asyncio
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from sf_progress import (
    AadTokenProvider,
    AuthError,
    CredentialError,
    FabricError,
    OperationRef,
    OperationState,
    ProgressClient,
    RetryPolicy,
    TLSConfig,
    TLSError,
    TransportError,
)
from sf_progress._wire.auth import jwt_expiry
from sf_progress._wire.security import normalize_thumbprint
from sf_progress.testing import FakeCluster, Fault

from .conftest import OID, PID

PASSWORD = "pfx-s3cret-Pa55"
TOKEN = "tok-s3cret-VALUE"
SECRETS = (PASSWORD, TOKEN, "tok-s3cret-NEW", "stub-aad-s3cret")


class Pki(NamedTuple):
    dir: Path
    ca: trustme.CA
    server: trustme.LeafCert
    client: trustme.LeafCert
    rogue_ca: trustme.CA
    rogue_client: trustme.LeafCert
    odd_server: trustme.LeafCert


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A CA with a server and a client certificate, plus a rogue CA and its certificates."""
    ca, rogue = trustme.CA(), trustme.CA()
    return Pki(
        tmp_path_factory.mktemp("pki"),
        ca,
        ca.issue_cert("127.0.0.1", "localhost"),
        ca.issue_cert("admin.client.example"),
        rogue,
        rogue.issue_cert("rogue.client.example"),
        rogue.issue_cert("wrong-name.example"),  # untrusted and not 127.0.0.1: only a pin can accept it
    )


def server_context(leaf: trustme.LeafCert, client_ca: trustme.CA | None) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.configure_cert(context)
    if client_ca is not None:
        context.verify_mode = ssl.CERT_REQUIRED
        client_ca.configure_trust(context)
    return context


def write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def der(leaf: trustme.LeafCert) -> bytes:
    return x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes()).public_bytes(serialization.Encoding.DER)


@pytest.fixture
def files(pki: Pki, tmp_path: Path) -> dict[str, Any]:
    """Certificate files in every form users have."""
    key = serialization.load_pem_private_key(pki.client.private_key_pem.bytes(), password=None)
    cert = x509.load_pem_x509_certificate(pki.client.cert_chain_pems[0].bytes())
    encrypted = key.private_bytes(  # type: ignore[union-attr]
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(PASSWORD.encode()),
    )
    pfx = pkcs12.serialize_key_and_certificates(
        b"client",
        key,
        cert,
        None,
        serialization.BestAvailableEncryption(PASSWORD.encode()),  # type: ignore[arg-type]
    )
    ca_dir = tmp_path / "cas"
    ca_dir.mkdir()
    write(ca_dir / "00-rogue.pem", pki.rogue_ca.cert_pem.bytes())
    write(ca_dir / "cluster-ca.crt", pki.ca.cert_pem.bytes())
    write(ca_dir / "README.txt", b"not a certificate")
    write(ca_dir / "broken.pem", b"-----BEGIN CERTIFICATE-----\nnope\n")
    return {
        "ca": write(tmp_path / "ca.pem", pki.ca.cert_pem.bytes()),
        "rogue_ca": write(tmp_path / "rogue-ca.pem", pki.rogue_ca.cert_pem.bytes()),
        "ca_dir": str(ca_dir),
        "pem": write(tmp_path / "client.pem", pki.client.private_key_and_cert_chain_pem.bytes()),
        "crt": write(tmp_path / "client.crt", pki.client.cert_chain_pems[0].bytes()),
        "key": write(tmp_path / "client.key", pki.client.private_key_pem.bytes()),
        "enc_key": write(tmp_path / "client-enc.key", encrypted),
        "pfx": write(tmp_path / "client.pfx", pfx),
        "rogue_pem": write(tmp_path / "rogue.pem", pki.rogue_client.private_key_and_cert_chain_pem.bytes()),
    }


@pytest_asyncio.fixture
async def mtls(pki: Pki) -> AsyncIterator[FakeCluster]:
    """A FakeCluster on HTTPS that requires a client certificate from the cluster CA."""
    async with FakeCluster(ssl_context=server_context(pki.server, pki.ca)) as cluster:
        cluster.add_operation(OperationRef.restart("app~svc", PID, OID))
        yield cluster


@pytest.fixture(autouse=True)
def no_secret_leaks(caplog: pytest.LogCaptureFixture) -> Iterator[list[str]]:
    """Collects error texts during a test; at the end, no secret may appear in them or the logs."""
    caplog.set_level(logging.DEBUG, logger="sf_progress")
    texts: list[str] = []
    yield texts
    everything = caplog.text + "\n".join(texts)
    for secret in SECRETS:
        assert secret not in everything


async def progress_state(client: ProgressClient) -> OperationState:
    return (await client.get_restart_progress("app~svc", PID, OID)).state


@pytest.mark.parametrize("form", ["pem", "pair", "encrypted", "pfx"])
async def test_right_client_certificate_passes(
    mtls: FakeCluster, files: dict[str, Any], form: str, no_secret_leaks: list[str]
) -> None:
    """A trusted client certificate works as one PEM, a cert/key pair, an encrypted key, or a PFX."""
    cert: Any = {
        "pem": files["pem"],
        "pair": (files["crt"], files["key"]),
        "encrypted": (files["crt"], files["enc_key"]),
        "pfx": files["pfx"],
    }[form]
    password = PASSWORD if form in ("encrypted", "pfx") else None
    client = ProgressClient(mtls.url, tls=TLSConfig(cert=cert, cert_password=password, verify=files["ca"]))
    no_secret_leaks.append(repr(client))
    async with client:
        assert await progress_state(client) is OperationState.COMPLETED


@pytest.mark.parametrize("case", ["no_cert", "rogue_cert"])
async def test_refused_client_certificate_is_a_typed_transport_error(
    mtls: FakeCluster, files: dict[str, Any], case: str, no_secret_leaks: list[str]
) -> None:
    """No certificate, or one from another CA, gives a TransportError — never a raw ssl/aiohttp error.

    Over TLS 1.3 the server's refusal reaches the client only as a closed connection, so
    the error says what may have happened rather than claiming it.
    """
    cert = None if case == "no_cert" else files["rogue_pem"]
    async with ProgressClient(mtls.url, cert=cert, verify=files["ca"]) as client:
        with pytest.raises(TransportError) as info:
            await progress_state(client)
    no_secret_leaks.append(str(info.value))
    assert isinstance(info.value.__cause__, Exception)
    assert "client certificate" in str(info.value) or isinstance(info.value, TLSError)
    assert mtls.requests == 0


async def test_wrong_ca_fails(mtls: FakeCluster, files: dict[str, Any]) -> None:
    """Verifying the server against the wrong CA fails with TLSError, before any request."""
    async with ProgressClient(mtls.url, cert=files["pem"], verify=files["rogue_ca"]) as client:
        with pytest.raises(TLSError, match="TLS"):
            await progress_state(client)
    assert mtls.requests == 0


async def test_system_store_rejects_private_ca(mtls: FakeCluster, files: dict[str, Any]) -> None:
    """By default the server is checked against the system store, which does not know this CA."""
    async with ProgressClient(mtls.url, cert=files["pem"]) as client:
        with pytest.raises(TLSError):
            await progress_state(client)


async def test_ca_directory_needs_no_rehash(mtls: FakeCluster, files: dict[str, Any]) -> None:
    """A directory of CA files works as is (no c_rehash); junk files in it are skipped."""
    async with ProgressClient(mtls.url, cert=files["pem"], verify=files["ca_dir"]) as client:
        assert await progress_state(client) is OperationState.COMPLETED


@pytest.mark.parametrize("algorithm", ["sha1", "sha256"])
async def test_matching_pin_accepts_untrusted_misnamed_server(pki: Pki, algorithm: str) -> None:
    """A pinned thumbprint (SHA-1 or SHA-256, any case, with colons) replaces chain and name checks."""
    import hashlib

    digest = hashlib.new(algorithm, der(pki.odd_server)).hexdigest().upper()
    pin = ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))
    async with FakeCluster(ssl_context=server_context(pki.odd_server, None)) as cluster:
        cluster.add_operation(OperationRef.restart("app~svc", PID, OID))
        async with ProgressClient(cluster.url, tls=TLSConfig(server_thumbprints=[pin])) as client:
            assert await progress_state(client) is OperationState.COMPLETED


async def test_wrong_pin_fails_before_the_token_is_sent(pki: Pki) -> None:
    """A server matching no pin is refused in the handshake: no request, so no token, reaches it."""
    async with FakeCluster(ssl_context=server_context(pki.odd_server, None), token=TOKEN) as cluster:
        async with ProgressClient(
            cluster.url, tls=TLSConfig(server_thumbprints=["ab" * 32]), token_provider=lambda: TOKEN
        ) as client:
            with pytest.raises(TLSError, match="pinned"):
                await progress_state(client)
        assert cluster.requests == 0


async def test_pin_with_client_certificate(pki: Pki, files: dict[str, Any]) -> None:
    """Pinning and a client certificate work together."""
    async with FakeCluster(ssl_context=server_context(pki.server, pki.ca)) as cluster:
        cluster.add_operation(OperationRef.restart("app~svc", PID, OID))
        pin = normalize_thumbprint(__import__("hashlib").sha256(der(pki.server)).hexdigest())
        async with ProgressClient(cluster.url, tls=TLSConfig(cert=files["pem"], server_thumbprints=pin)) as client:
            assert await progress_state(client) is OperationState.COMPLETED


async def test_no_verify_works_and_warns_once(pki: Pki, caplog: pytest.LogCaptureFixture) -> None:
    """verify=False accepts any server and logs one loud warning per process."""
    import sf_progress._wire.security as security

    security._warned_no_verify = False
    async with FakeCluster(ssl_context=server_context(pki.odd_server, None)) as cluster:
        cluster.add_operation(OperationRef.restart("app~svc", PID, OID))
        for _ in range(2):
            async with ProgressClient(cluster.url, verify=False) as client:
                assert await progress_state(client) is OperationState.COMPLETED
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "verification is OFF" in r.getMessage()]
    assert len(warnings) == 1


def test_plain_http_with_credentials_is_refused(files: dict[str, Any]) -> None:
    """A token or client certificate over http:// is a ValueError unless explicitly allowed."""
    with pytest.raises(ValueError, match="clear text"):
        ProgressClient("http://cluster:19080", token_provider=lambda: TOKEN)
    with pytest.raises(ValueError, match="clear text"):
        ProgressClient("http://cluster:19080", cert=files["pem"])
    ProgressClient("http://cluster:19080", token_provider=lambda: TOKEN, tls=TLSConfig(allow_insecure_http=True))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"cert": "/nonexistent/client.pem"}, ValueError, "no file"),
        ({"cert": 42}, TypeError, "cert must be"),
        ({"verify": "/nonexistent/ca.pem"}, ValueError, "no CA bundle"),
        ({"verify": 1.5}, TypeError, "verify must be"),
        ({"server_thumbprints": ["xyz"]}, ValueError, "hex digits"),
        ({"server_thumbprints": []}, ValueError, "at least one"),
        ({"server_thumbprints": [12]}, TypeError, "hex str"),
        ({"tls": TLSConfig(), "verify": False}, TypeError, "not both"),
        ({"tls": "strict"}, TypeError, "TLSConfig"),
        ({"token_provider": "abc"}, TypeError, "callable"),
    ],
)
def test_bad_security_arguments(kwargs: dict[str, Any], error: type[Exception], match: str) -> None:
    """Security options are validated when the client is built, with clear messages.

    TLS detail (thumbprints, a key password, plain http with credentials) is said only in TLSConfig.
    """
    build = TLSConfig if "server_thumbprints" in kwargs else functools.partial(ProgressClient, "https://cluster:19080")
    with pytest.raises(error, match=match):
        build(**kwargs)


def test_unreadable_certificates_fail_early(files: dict[str, Any], tmp_path: Path) -> None:
    """A wrong password, a PFX with the wrong password, junk PEM and empty CA dirs fail at construction."""
    with pytest.raises(ValueError, match="cert_password"):
        ProgressClient("https://c:1", cert=(files["crt"], files["enc_key"]))
    with pytest.raises(ValueError, match="PKCS#12"):
        ProgressClient("https://c:1", tls=TLSConfig(cert=files["pfx"], cert_password="wrong"))
    junk = write(tmp_path / "junk.pem", b"hello")
    with pytest.raises(ValueError, match="could not load"):
        ProgressClient("https://c:1", cert=junk)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no PEM CA"):
        ProgressClient("https://c:1", verify=str(tmp_path / "empty"))
    with pytest.raises(ValueError, match="not a PEM CA bundle"):
        ProgressClient("https://c:1", verify=junk)


def test_tls_config_repr_hides_password(files: dict[str, Any], no_secret_leaks: list[str]) -> None:
    """TLSConfig's repr shows the files, never the password."""
    config = TLSConfig(cert=files["pfx"], cert_password=PASSWORD, verify=files["ca"])
    no_secret_leaks.append(repr(config))
    assert "client.pfx" in repr(config)
    assert config.configured


# --- tokens -----------------------------------------------------------------------------


@attrs.frozen
class AccessToken:
    """The shape of azure-core's AccessToken."""

    token: str
    expires_on: int


class Provider:
    """A token provider that counts its calls and serves a scripted sequence."""

    def __init__(self, *tokens: str | AccessToken) -> None:
        self.tokens = list(tokens)
        self.calls = 0

    async def __call__(self) -> str | AccessToken:
        self.calls += 1
        return self.tokens.pop(0) if len(self.tokens) > 1 else self.tokens[0]


@pytest_asyncio.fixture
async def secured(pki: Pki) -> AsyncIterator[FakeCluster]:
    """An HTTPS FakeCluster that requires a bearer token."""
    async with FakeCluster(ssl_context=server_context(pki.server, None), token=TOKEN) as cluster:
        cluster.add_operation(OperationRef.restart("app~svc", PID, OID))
        yield cluster


async def test_valid_token_is_reused(secured: FakeCluster, files: dict[str, Any]) -> None:
    """A token that is still valid is fetched once, not per request."""
    provider = Provider(AccessToken(TOKEN, int(time.time()) + 3600))
    async with ProgressClient(secured.url, verify=files["ca"], token_provider=provider) as client:
        for _ in range(10):
            assert await progress_state(client) is OperationState.COMPLETED
    assert provider.calls == 1


async def test_expiring_token_is_refreshed_before_use(secured: FakeCluster, files: dict[str, Any]) -> None:
    """A token about to expire is replaced before the next request (no 401 needed)."""
    provider = Provider(AccessToken(TOKEN, int(time.time()) + 30), AccessToken(TOKEN, int(time.time()) + 3600))
    async with ProgressClient(secured.url, verify=files["ca"], token_provider=provider) as client:
        await progress_state(client)
        await progress_state(client)
        await progress_state(client)
    assert provider.calls == 2
    assert secured.requests == 3


async def test_401_gets_one_refresh_and_one_retry(
    secured: FakeCluster, files: dict[str, Any], no_secret_leaks: list[str]
) -> None:
    """A rejected token is refreshed once and the request sent once more."""
    provider = Provider(TOKEN, "tok-s3cret-NEW")
    async with ProgressClient(secured.url, verify=files["ca"], token_provider=provider) as client:
        assert await progress_state(client) is OperationState.COMPLETED
        secured.token = "tok-s3cret-NEW"  # the cluster now wants the new token
        assert await progress_state(client) is OperationState.COMPLETED
        assert (provider.calls, secured.requests) == (2, 3)
        secured.token = "something-else"
        with pytest.raises(AuthError) as info:
            await progress_state(client)
    no_secret_leaks.extend([str(info.value), repr(info.value), repr(client)])
    assert info.value.status == 401
    assert (provider.calls, secured.requests) == (3, 5)


async def test_concurrent_requests_share_one_refresh(secured: FakeCluster, files: dict[str, Any]) -> None:
    """Fifty concurrent requests trigger a single token fetch."""
    import asyncio

    provider = Provider(AccessToken(TOKEN, int(time.time()) + 3600))
    async with ProgressClient(secured.url, verify=files["ca"], token_provider=provider) as client:
        states = await asyncio.gather(*(progress_state(client) for _ in range(50)))
    assert set(states) == {OperationState.COMPLETED}
    assert provider.calls == 1


@pytest.mark.parametrize("bad", ["", "two words", "line\nbreak", None, AccessToken("", 0)])
async def test_unusable_tokens_are_credential_errors(secured: FakeCluster, files: dict[str, Any], bad: Any) -> None:
    """A provider returning no usable token gives CredentialError and sends nothing."""
    async with ProgressClient(secured.url, verify=files["ca"], token_provider=lambda: bad) as client:
        with pytest.raises(CredentialError):
            await progress_state(client)
    assert secured.requests == 0


async def test_failing_provider_is_a_credential_error(secured: FakeCluster, files: dict[str, Any]) -> None:
    """A provider that raises gives CredentialError, chained to its exception."""

    def provider() -> str:
        raise RuntimeError("no login")

    async with ProgressClient(secured.url, verify=files["ca"], token_provider=provider) as client:
        with pytest.raises(CredentialError) as info:
            await progress_state(client)
    assert isinstance(info.value.__cause__, RuntimeError)


def jwt(exp: float) -> str:
    def part(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none'})}.{part({'exp': exp})}.sig"


def test_jwt_expiry() -> None:
    """The exp claim of a JWT string sets its refresh time; other strings have none."""
    assert jwt_expiry(jwt(1700000000)) == 1700000000
    assert jwt_expiry("opaque-token") is None
    assert jwt_expiry("a.%%%.c") is None
    assert jwt_expiry(jwt(True)) is None  # type: ignore[arg-type]


async def test_redirect_is_not_followed_and_token_stays(secured: FakeCluster, files: dict[str, Any]) -> None:
    """A redirect to another host is reported, not followed: that host never sees the token."""
    async with FakeCluster() as elsewhere:
        secured.inject(Fault.redirect(f"{elsewhere.url}/steal"), routes=["progress"])
        async with ProgressClient(secured.url, verify=files["ca"], token_provider=lambda: TOKEN) as client:
            with pytest.raises(FabricError) as info:
                await progress_state(client)
        assert info.value.status == 307
        assert elsewhere.requests == 0


# --- Azure AD ---------------------------------------------------------------------------


class StubCredential:
    """Has azure.identity.aio's credential shape: async get_token(*scopes) -> AccessToken."""

    def __init__(self) -> None:
        self.scopes: list[tuple[str, ...]] = []

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken("stub-aad-s3cret", int(time.time()) + 3600)


class SyncStubCredential:
    """Has azure.identity's (sync) credential shape."""

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken("stub-aad-s3cret", int(time.time()) + 3600)


AAD = {
    "authority": "https://login.example/tenant-id",
    "client": "client-app-id",
    "cluster": "cluster-app-id",
    "login": "https://login.example",
    "redirect": "urn:ietf:wg:oauth:2.0:oob",
    "tenant": "tenant-id",
}


@pytest.mark.parametrize("credential_class", [StubCredential, SyncStubCredential])
async def test_aad_provider_reads_metadata_and_gets_token(
    pki: Pki, files: dict[str, Any], credential_class: type
) -> None:
    """The AAD provider asks for '<cluster app>/.default' after an anonymous metadata read."""
    credential = credential_class()
    async with FakeCluster(
        ssl_context=server_context(pki.server, None), token="stub-aad-s3cret", aad_metadata=AAD
    ) as cluster:
        cluster.add_operation(OperationRef.restart("app~svc", PID, OID))
        provider = AadTokenProvider(credential)
        async with ProgressClient(cluster.url, verify=files["ca"], token_provider=provider) as client:
            metadata = await client.get_aad_metadata()
            assert (metadata.type, metadata.cluster, metadata.tenant) == ("aad", "cluster-app-id", "tenant-id")
            assert await progress_state(client) is OperationState.COMPLETED
        assert "stub-aad-s3cret" not in repr(provider)
    if isinstance(credential, StubCredential):
        assert credential.scopes == [("cluster-app-id/.default",)]


async def test_aad_provider_on_a_non_aad_cluster(pki: Pki, files: dict[str, Any]) -> None:
    """On a cluster without AAD, the provider fails with CredentialError."""
    async with FakeCluster(ssl_context=server_context(pki.server, None), token="x") as cluster:
        provider = AadTokenProvider(StubCredential())
        async with ProgressClient(cluster.url, verify=files["ca"], token_provider=provider) as client:
            with pytest.raises(CredentialError, match="not secured with Azure AD"):
                await progress_state(client)


async def test_aad_provider_with_explicit_scope_and_validation() -> None:
    """An explicit scope skips the metadata read; a credential without get_token is refused."""
    credential = StubCredential()
    provider = AadTokenProvider(credential, scope="api://cluster/.default")
    token = await provider()
    assert token.token == "stub-aad-s3cret"
    assert credential.scopes == [("api://cluster/.default",)]
    with pytest.raises(TypeError, match="get_token"):
        AadTokenProvider(object())
    with pytest.raises(CredentialError, match="not attached"):
        await AadTokenProvider(credential).scope()


async def test_hashed_ca_directory_is_loaded(
    mtls: FakeCluster, pki: Pki, files: dict[str, Any], tmp_path: Path
) -> None:
    """A c_rehash-style directory (files named like 1a2b3c4d.0, as /etc/ssl/certs) is a CA directory."""
    hashed = tmp_path / "hashed"
    hashed.mkdir()
    write(hashed / "1a2b3c4d.0", pki.ca.cert_pem.bytes())
    write(hashed / "9f8e7d6c.1", b"junk")
    async with ProgressClient(mtls.url, cert=files["pem"], verify=str(hashed)) as client:
        assert await progress_state(client) is OperationState.COMPLETED


async def test_pfx_password_as_bytes(mtls: FakeCluster, files: dict[str, Any]) -> None:
    """cert_password may be bytes (as cryptography takes it), for a PFX too."""
    async with ProgressClient(
        mtls.url, tls=TLSConfig(cert=files["pfx"], cert_password=PASSWORD.encode(), verify=files["ca"])
    ) as client:
        assert await progress_state(client) is OperationState.COMPLETED


def test_cert_password_of_another_type_is_a_type_error(files: dict[str, Any]) -> None:
    """A cert_password that is neither str nor bytes is refused at construction."""
    with pytest.raises(TypeError, match="cert_password"):
        TLSConfig(cert=files["pfx"], cert_password=1234)  # type: ignore[arg-type]


@pytest.mark.parametrize("token", ["abc\x01def", "abc\tdef", "tok\x7fen", "tökén"])
async def test_tokens_with_control_or_non_ascii_characters_are_credential_errors(
    secured: FakeCluster, files: dict[str, Any], token: str
) -> None:
    """A token that cannot travel in a header is a CredentialError, never aiohttp's ValueError."""
    async with ProgressClient(secured.url, verify=files["ca"], token_provider=lambda: token) as client:
        with pytest.raises(CredentialError):
            await progress_state(client)


def test_a_password_in_an_endpoint_is_never_shown(tmp_path: Path) -> None:
    """Library, CLI, Chaos Toolkit and report: an endpoint's password never appears in what they print.

    (Issue 35, item 20: a malformed endpoint's error showed it, and the report printed a journal
    header's verbatim.)
    """
    from click.testing import CliRunner

    from sf_progress.chaostoolkit._connect import client_for
    from sf_progress.cli import main
    from sf_progress.report import build_report, render_json, render_markdown

    secret = "s3cret-pw"
    for endpoint in (f"https://admin:{secret}@c:19080/?x=1", f"http://admin:{secret}@c:99999", f"ftp://u:{secret}@c"):
        with pytest.raises(ValueError, match="endpoint") as info:
            ProgressClient(endpoint)
        assert secret not in str(info.value)
        with pytest.raises(ValueError, match="endpoint") as info, client_for({"sf_endpoint": endpoint}, {}):
            pass
        assert secret not in str(info.value)
        result = CliRunner().invoke(main, ["get", "--endpoint", endpoint, "a~b", str(uuid.uuid4()), str(uuid.uuid4())])
        assert result.exit_code == 2
        assert secret not in result.output
    journal = tmp_path / "run.jsonl"
    journal.write_text(
        json.dumps({"v": 3, "event": "journal", "endpoint": f"https://admin:{secret}@c:19080", "created": "x"})
        + "\n" + json.dumps({"event": "planned", "count": 0}) + "\n"
    )
    report = build_report(journal)
    assert secret not in render_json(report) + render_markdown(report)
    assert report.endpoint == "https://***@c:19080"


@pytest.mark.parametrize("case", ["plain_http", "wrong_ca", "no_client_cert"])
async def test_tls_failures_are_said_in_words(
    mtls: FakeCluster, cluster: FakeCluster, files: dict[str, Any], case: str
) -> None:
    """What failed and what to do, with no aiohttp class names, ``ssl:default`` or ``SSLContext`` reprs.

    (Issue 35, item 25: "ClientConnectorSSLError: Cannot connect to host ... ssl:<ssl.SSLContext object
    at 0x...> [[SSL: WRONG_VERSION_NUMBER] ...]".)
    """
    url, options, words = {
        "plain_http": (cluster.url.replace("http://", "https://"), {"verify": files["ca"]},
                       "does not speak TLS there"),
        "wrong_ca": (mtls.url, {"cert": files["pem"], "verify": files["rogue_ca"]},
                     "certificate was not accepted"),
        "no_client_cert": (mtls.url, {"verify": files["ca"]}, "client certificate"),
    }[case]
    async with ProgressClient(url, retry=RetryPolicy(attempts=1), **options) as client:
        with pytest.raises(TransportError) as info:
            await progress_state(client)
    text = str(info.value)
    assert words in text
    for internal in ("ssl:", "SSLContext", "Client", "Error:", "_ssl.c", "0x"):
        assert internal not in text, text

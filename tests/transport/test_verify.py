"""``verify=``: TLS to a PBX behind an internal CA, through both transports.

A throwaway CA and a certificate for 127.0.0.1 are made with the ``openssl`` command (the
tests skip without it); a loopback TLS server answers every request with one envelope.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import httpx
import pytest
from anyio.streams.tls import TLSListener

from daktela_async import (
    DaktelaClient,
    DaktelaConnectError,
    DaktelaUsageError,
    TransportOptions,
    httpcore_transport_factory,
)
from daktela_async._transport._pool import ssl_context_for
from daktela_async.transports import aiohttp_transport_factory
from tests.support import TOKEN

pytestmark = pytest.mark.anyio

OK_BODY = b'{"status":1,"error":null,"result":{"queue":"3"}}'


class Certificates:
    """A CA (``ca.pem``, and hashed into ``capath/``) and the server's key pair."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.ca = root / "ca.pem"
        self.capath = root / "capath"
        self.cert = root / "server.pem"
        self.key = root / "server.key"


def _openssl(*args: str | Path, cwd: Path) -> None:
    # Fixed arguments to the system's openssl (found on PATH, checked by the fixture).
    command = ["openssl", *map(str, args)]
    subprocess.run(command, cwd=cwd, check=True, capture_output=True)  # noqa: S603


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make test certificates")
    made = Certificates(tmp_path_factory.mktemp("tls"))
    root = made.root
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl(
        "req", "-x509", *ec, "-keyout", "ca.key", "-out", made.ca, "-days", "2",
        "-subj", "/CN=daktela-async test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=root,
    )  # fmt: skip
    _openssl(
        "req", *ec, "-keyout", made.key, "-out", "server.csr", "-subj", "/CN=127.0.0.1",
        cwd=root,
    )  # fmt: skip
    (root / "ext.cnf").write_text(
        "subjectAltName=IP:127.0.0.1\n"
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid\n"
    )
    _openssl(
        "x509", "-req", "-in", "server.csr", "-CA", made.ca, "-CAkey", "ca.key",
        "-CAcreateserial", "-out", made.cert, "-days", "2", "-extfile", "ext.cnf",
        cwd=root,
    )  # fmt: skip
    made.capath.mkdir()
    shutil.copy(made.ca, made.capath / "ca.pem")
    _openssl("rehash", made.capath, cwd=root)
    return made


class TLSServer:
    """Answers every request of every connection with :data:`OK_BODY`, counting them."""

    def __init__(self) -> None:
        self.port = 0
        self.answered = 0

    async def handle(self, stream: anyio.abc.ByteStream) -> None:
        try:
            async with stream:
                while True:
                    data = b""
                    while b"\r\n\r\n" not in data:
                        data += await stream.receive(65536)
                    await stream.send(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                        b"Content-Length: %d\r\n\r\n%s" % (len(OK_BODY), OK_BODY)
                    )
                    self.answered += 1
        except (anyio.EndOfStream, anyio.BrokenResourceError, OSError, ssl.SSLError):
            pass

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"


@pytest.fixture
async def server(certificates: Certificates) -> AsyncIterator[TLSServer]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificates.cert, certificates.key)
    tcp = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    served = TLSServer()
    served.port = tcp.extra(anyio.abc.SocketAttribute.local_port)
    listener = TLSListener(tcp, context, standard_compatible=False)
    async with anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, served.handle)
        yield served
        tg.cancel_scope.cancel()
    await listener.aclose()


@pytest.fixture
def quiet_handshakes(caplog: pytest.LogCaptureFixture) -> None:
    # anyio logs the server side of a refused handshake; it is expected here.
    caplog.set_level("CRITICAL", logger="anyio.streams.tls")


def client(server: TLSServer, **kwargs: Any) -> DaktelaClient:
    return DaktelaClient(server.url, TOKEN, retries=0, **kwargs)


async def test_default_verification_refuses_an_unknown_ca(
    server: TLSServer, quiet_handshakes: None
) -> None:
    # (httpcore says why on asyncio, CERTIFICATE_VERIFY_FAILED, and nothing on trio.)
    async with client(server) as c:
        with pytest.raises(DaktelaConnectError) as info:
            await c.call("GetQueues")
    assert info.value.sent is False
    assert server.answered == 0


@pytest.mark.parametrize("form", ["str", "path", "directory"])
async def test_a_ca_bundle_path_is_trusted(
    server: TLSServer, certificates: Certificates, form: str
) -> None:
    verify = {
        "str": str(certificates.ca),
        "path": certificates.ca,
        "directory": certificates.capath,
    }[form]
    async with client(server, verify=verify) as c:
        assert await c.call("GetQueues") == {"queue": "3"}
    assert server.answered == 1


async def test_an_ssl_context_is_used_as_given(
    server: TLSServer, certificates: Certificates
) -> None:
    context = ssl.create_default_context(cafile=certificates.ca)
    seen: list[ssl.SSLContext] = []

    def factory(options: TransportOptions) -> httpx.AsyncBaseTransport:
        seen.append(options.ssl_context)
        return httpcore_transport_factory(options)

    async with client(server, verify=context, transport_factory=factory) as c:
        assert await c.call("GetQueues") == {"queue": "3"}
    assert seen == [context]


async def test_verify_false_skips_the_check(server: TLSServer) -> None:
    async with client(server, verify=False) as c:
        assert await c.call("GetQueues") == {"queue": "3"}


async def test_a_view_shares_the_verified_pool(
    server: TLSServer, certificates: Certificates
) -> None:
    async with client(server, verify=certificates.ca) as c:
        async with c.with_options(timeout=5) as view:
            await view.call("GetQueues")
        await c.call("GetQueues")
    assert server.answered == 2


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_the_aiohttp_transport_honours_verify(
    server: TLSServer, certificates: Certificates, quiet_handshakes: None
) -> None:
    async with client(server, transport_factory=aiohttp_transport_factory) as c:
        with pytest.raises(DaktelaConnectError):
            await c.call("GetQueues")
    for verify in (certificates.ca, ssl.create_default_context(cafile=certificates.ca), False):
        async with client(server, verify=verify, transport_factory=aiohttp_transport_factory) as c:
            assert await c.call("GetQueues") == {"queue": "3"}
    assert server.answered == 3


# --- refused settings -----------------------------------------------------------------------


def test_a_missing_bundle_is_refused_at_once(tmp_path: Path) -> None:
    with pytest.raises(DaktelaUsageError, match="no CA bundle") as info:
        DaktelaClient("https://pbx.example.com", TOKEN, verify=tmp_path / "missing.pem")
    assert info.value.parameter == "verify"


def test_a_file_without_certificates_is_refused(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.pem"
    bogus.write_text("not a certificate\n")
    with pytest.raises(DaktelaUsageError, match="cannot load the CA bundle") as info:
        DaktelaClient("https://pbx.example.com", TOKEN, verify=bogus)
    assert info.value.parameter == "verify"


@pytest.mark.parametrize("verify", [None, 1, "", b"/etc/ssl/ca.pem"])
def test_other_values_are_refused(verify: object) -> None:
    with pytest.raises(DaktelaUsageError) as info:
        DaktelaClient("https://pbx.example.com", TOKEN, verify=verify)  # type: ignore[arg-type]
    assert info.value.parameter == "verify"


def test_the_default_context_verifies() -> None:
    strict = ssl_context_for(True)
    assert strict.verify_mode is ssl.CERT_REQUIRED
    assert strict.check_hostname
    lax = ssl_context_for(False)
    assert lax.verify_mode is ssl.CERT_NONE
    assert not lax.check_hostname

"""The token shows nowhere: not in errors, their causes, traceback locals, or the client.

Every error the client can raise is provoked against the simulator (a real loopback
server, so the transports' own frames and exceptions are the real ones), in both token
placements and on both transports. Then everything reachable from the exception is
searched for the token and for its 36-character prefix:

- the exception and its ``__cause__``/``__context__`` chain: ``str``, ``repr``, and
  every attribute, recursively;
- every frame of every traceback in that chain (but this module's own: a caller's
  variables are the caller's to protect): each local as a traceback printer or a
  crash reporter shows it (``repr``, and the items of containers), which is what
  ``traceback.TracebackException(..., capture_locals=True)``, pytest ``--showlocals``,
  rich's ``show_locals`` and Sentry's local capture display;
- the formatted ``TracebackException`` with ``capture_locals=True``.

The client itself is searched too: ``repr(vars(client))`` and its attributes,
recursively.
"""

from __future__ import annotations

import gc
import socket
import traceback
import types
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any, Final

import httpx
import pytest

from daktela_async import (
    DaktelaAnswerTooLargeError,
    DaktelaAPIError,
    DaktelaClient,
    DaktelaConnectError,
    DaktelaDecodeError,
    DaktelaError,
    DaktelaHTTPStatusError,
    DaktelaTimeoutError,
    DaktelaUsageError,
    RetryPolicy,
    Timeouts,
)
from daktela_async.sim import Simulator
from daktela_async.transports import aiohttp_transport_factory, httpcore_transport_factory

pytestmark = pytest.mark.anyio

#: The walk stops this deep below an exception or the client: far enough to reach a
#: transport's connections, short of wandering through the whole interpreter.
MAX_DEPTH: Final = 8
#: Objects that are code, not data: their repr is a name, and walking them leads into
#: modules and the interpreter.
_OPAQUE: Final = (
    type,
    types.ModuleType,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.CodeType,
    types.FrameType,
    types.CoroutineType,
    types.GeneratorType,
    types.AsyncGeneratorType,
)


async def _instant(_delay: float) -> None:
    return None


class Finder:
    """Searches what an object shows (repr, str), and what it holds, for the secrets."""

    def __init__(self, *secrets: str, frames: bool = True) -> None:
        self.secrets = secrets
        self.frames = frames
        self.found: list[str] = []
        self._walked: set[int] = set()

    def _check(self, path: str, obj: object) -> None:
        for show in (repr, str):
            try:
                text = show(obj)
            except Exception:  # noqa: S112 - a broken repr shows nothing
                continue
            if any(secret in text for secret in self.secrets):
                self.found.append(f"{path} ({show.__name__}): {text[:160]}")
                return

    def shown(self, obj: object, path: str, depth: int = 0) -> None:
        """A traceback local: its repr, and its items when it is a container."""
        self._check(path, obj)
        if depth > MAX_DEPTH or id(obj) in self._walked:
            return
        if isinstance(obj, BaseException):
            self.exception(obj, path, depth)
        elif isinstance(obj, Mapping):
            self._walked.add(id(obj))
            for key, value in list(obj.items()):
                self.shown(key, f"{path}.key", depth + 1)
                self.shown(value, f"{path}[{key!r}]", depth + 1)
        elif isinstance(obj, list | tuple | set | frozenset):
            self._walked.add(id(obj))
            for index, item in enumerate(list(obj)):
                self.shown(item, f"{path}[{index}]", depth + 1)

    def exception(self, exc: BaseException, path: str, depth: int = 0) -> None:
        """An exception: what it shows, its attributes, its chain and its frames' locals."""
        if id(exc) in self._walked:
            return
        self._walked.add(id(exc))
        self._check(path, exc)
        for name, value in vars(exc).items():
            self.held(value, f"{path}.{name}", depth + 1)
        for index, arg in enumerate(exc.args):
            self.held(arg, f"{path}.args[{index}]", depth + 1)
        for name in ("request", "response"):  # httpx's exceptions carry them as properties
            try:
                value = getattr(exc, name, None)
            except RuntimeError:  # "The .request property has not been set."
                continue
            if value is not None:
                self.held(value, f"{path}.{name}", depth + 1)
        for frame, line in traceback.walk_tb(exc.__traceback__ if self.frames else None):
            if frame.f_code.co_filename == __file__:
                continue  # this test's own variables: the caller's to protect, not the client's
            where = f"{path}<{frame.f_code.co_name}:{line}>"
            for name, value in frame.f_locals.items():
                self.shown(value, f"{where}.{name}", depth + 1)
        if exc.__cause__ is not None:
            self.exception(exc.__cause__, f"{path}.__cause__", depth + 1)
        if exc.__context__ is not None:
            self.exception(exc.__context__, f"{path}.__context__", depth + 1)
        formatted = traceback.TracebackException.from_exception(exc, capture_locals=self.frames)
        self._check(f"{path} formatted with locals", "".join(formatted.format()))

    def held(self, obj: object, path: str, depth: int = 0) -> None:
        """An object reachable through attributes: what it shows and everything it holds."""
        self._check(path, obj)
        if depth > MAX_DEPTH or isinstance(obj, _OPAQUE) or id(obj) in self._walked:
            return
        if isinstance(obj, str | bytes | bytearray | int | float | complex | None):
            return
        if isinstance(obj, BaseException):
            self.exception(obj, path, depth)
            return
        self._walked.add(id(obj))
        if isinstance(obj, Mapping):
            for key, value in list(obj.items()):
                self.held(key, f"{path}.key", depth + 1)
                self.held(value, f"{path}[{key!r}]", depth + 1)
            return
        if isinstance(obj, list | tuple | set | frozenset):
            for index, item in enumerate(list(obj)):
                self.held(item, f"{path}[{index}]", depth + 1)
            return
        for name, value in _attributes(obj):
            self.held(value, f"{path}.{name}", depth + 1)


def _attributes(obj: object) -> Iterator[tuple[str, object]]:
    yield from list(getattr(obj, "__dict__", {}).items())
    for cls in type(obj).__mro__:
        slots = cls.__dict__.get("__slots__", ())
        for name in [slots] if isinstance(slots, str) else slots:
            if name not in ("__dict__", "__weakref__") and hasattr(obj, name):
                yield name, getattr(obj, name)


def search(
    token: str, *, error: BaseException | None = None, client: object = None, frames: bool = True
) -> list[str]:
    """Where the token (or its 36-character prefix) shows.

    ``frames=False`` leaves out the locals of the traceback's frames: where the server
    echoes the token, the frames that read its answer hold that answer, as they must.
    """
    finder = Finder(token, token[:36], frames=frames)
    if error is not None:
        finder.exception(error, "error")
    if client is not None:
        finder._check("vars(client)", vars(client))
        finder.held(client, "client")
    return finder.found


async def capture(attempt: Callable[[], Awaitable[object]]) -> DaktelaError:
    """Run *attempt* and return the error it raises (this frame holds no token)."""
    try:
        await attempt()
    except DaktelaError as exc:
        return exc
    raise AssertionError("no error was raised")


# --- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(agents=2, queues=1, speed=0, hold=0.5) as simulator:
        yield simulator


@pytest.fixture(params=["httpcore", "aiohttp"])
def transport(request: pytest.FixtureRequest, anyio_backend: str) -> str:
    if request.param == "aiohttp" and anyio_backend != "asyncio":
        pytest.skip("the aiohttp transport runs on asyncio only")
    return str(request.param)


@pytest.fixture(params=["query", "cookie"])
def token_in(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _client(url: str, token: str, token_in: str, transport: str, **kwargs: Any) -> DaktelaClient:
    factory = aiohttp_transport_factory if transport == "aiohttp" else httpcore_transport_factory
    kwargs.setdefault("retries", RetryPolicy(max_attempts=2, sleep=_instant))
    return DaktelaClient(url, token, token_in=token_in, transport_factory=factory, **kwargs)  # type: ignore[arg-type]


# --- every error class ------------------------------------------------------------------

SCENARIOS: Final = [
    "connect",
    "reset",
    "read_timeout",
    "deadline",
    "http_status",
    "stream_http_status",
    "api_status_0",
    "decode",
    "too_large",
    "usage_in_call",
    "closed_client",
]


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_no_error_shows_the_token(
    sim: Simulator, transport: str, token_in: str, scenario: str
) -> None:
    token = sim.token
    url = sim.url
    kwargs: dict[str, Any] = {}
    expected: type[DaktelaError]
    if scenario == "connect":
        url, expected = f"http://127.0.0.1:{_closed_port()}", DaktelaConnectError
    elif scenario == "reset":
        sim.inject("reset", actions={"GetQueues"})
        expected = DaktelaConnectError
    elif scenario == "read_timeout":
        sim.inject("hang", actions={"GetQueues"})
        kwargs["timeout"] = Timeouts(read=0.2)
        expected = DaktelaTimeoutError
    elif scenario == "deadline":
        sim.inject("hang", actions={"GetQueues"})
        kwargs["timeout"] = Timeouts(deadline=0.2)
        expected = DaktelaTimeoutError
    elif scenario in ("http_status", "stream_http_status"):
        sim.inject("status", status=503, actions={"GetQueues"})
        expected = DaktelaHTTPStatusError
    elif scenario == "api_status_0":
        token, expected = "f" * 40, DaktelaAPIError  # a wrong token: the PBX says status 0
    elif scenario == "decode":
        sim.inject("garbage", garbage="html", actions={"GetQueues"})
        expected = DaktelaDecodeError
    elif scenario == "too_large":
        # Raised while the answer is read: on the aiohttp transport's fast path, by the
        # frames that hold its answer (whose aiohttp response knows the URL sent).
        kwargs["max_answer_bytes"] = 10
        expected = DaktelaAnswerTooLargeError
    else:
        expected = DaktelaUsageError
    try:
        client = _client(url, token, token_in, transport, **kwargs)
        async with client:

            async def attempt() -> object:
                if scenario == "usage_in_call":
                    return await client.call("GetQueues", fields=object())
                if scenario == "stream_http_status":
                    async with client.stream_raw("GetQueues"):
                        return None
                return await client.call("GetQueues")

            if scenario == "closed_client":
                await client.aclose()
            error = await capture(attempt)
            assert search(token, client=client) == []
        assert isinstance(error, expected), error
        assert search(token, error=error) == []
        assert search(token, client=client) == []
    finally:
        sim.clear_faults()


#: Module constants, not locals: the frames of this module then hold no token or password
#: (which would be the caller's to protect), and the formatted tracebacks can be searched.
SETTINGS_TOKEN: Final = "0123456789abcdef0123456789abcdef01234567"
PASSWORD: Final = "s3cr3t-passw0rd"
REFUSED_TOKEN: Final = "0123456789abcdef0123456789abcdef\x00x"


async def _construct(**kwargs: Any) -> object:
    return DaktelaClient("https://pbx.example.com", SETTINGS_TOKEN, **kwargs)


async def _from_credentials(**kwargs: Any) -> object:
    return DaktelaClient.from_credentials("ftp://pbx.example.com", "login", PASSWORD, **kwargs)


async def _refused() -> object:
    return DaktelaClient("https://pbx.example.com", REFUSED_TOKEN)


async def test_settings_errors_do_not_show_the_token(token_in: str) -> None:
    error = await capture(lambda: _construct(token_in=token_in, timeout=0))
    assert isinstance(error, DaktelaUsageError)
    assert error.parameter == "timeout"
    assert search(SETTINGS_TOKEN, error=error) == []
    error = await capture(lambda: _from_credentials(token_in=token_in))
    assert isinstance(error, DaktelaUsageError)
    assert error.parameter == "base_url"
    digest = DaktelaClient.from_credentials("https://x.example.com", "login", PASSWORD)
    assert search(PASSWORD, error=error) == []
    assert search(digest._token.value, error=error) == []


async def test_a_token_that_is_refused_is_not_shown() -> None:
    error = await capture(_refused)
    assert isinstance(error, DaktelaUsageError)
    assert error.parameter == "token"
    assert search(REFUSED_TOKEN[:32], error=error) == []


# --- nothing outlives the client -----------------------------------------------------------


async def test_no_token_bearing_url_outlives_the_client(token_in: str) -> None:
    token = "a1b2c3d4e5f6a7b8c9d0a1b2c3d4e5f6a7b8c9d0"

    def answer(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"status": 1, "error": None, "result": []})

    client = DaktelaClient(
        "https://pbx.example.com",
        token,
        token_in=token_in,  # type: ignore[arg-type]
        transport_factory=lambda _options: httpx.MockTransport(answer),
    )
    async with client:
        for user in ("novak", "hajek"):
            await client.call("RTUserState", user=user)
    del client
    gc.collect()
    survivors = [
        obj
        for obj in gc.get_objects()
        if isinstance(obj, httpx.URL | httpx.Request | httpx.Headers) and token in str(obj.__dict__)
    ]
    assert survivors == []


# --- the server (or the transport) echoes the token ----------------------------------------

#: The token of the echo tests: hex, as the PBX's are, so an upper-case echo is the same.
ECHO_TOKEN: Final = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b"


def _sent_token(request: httpx.Request) -> str:
    """The token as this request carries it, from the query or from the cookie."""
    if "access_token" in request.url.params:
        return request.url.params["access_token"]
    cookie = request.headers["cookie"]
    assert cookie.startswith("access_token="), "the token travels in the cookie"
    return cookie.removeprefix("access_token=")


def _gzip_broken(_token: str) -> httpx.Response:
    return httpx.Response(200, headers={"Content-Encoding": "gzip"}, content=b"\x1f\x8bnot gzip")


#: How an answer (or the transport) shows the token back; each builds a response or raises.
ECHOES: Final[dict[str, Callable[[httpx.Request, str], httpx.Response]]] = {
    "status_0_message": lambda _r, t: httpx.Response(
        200, json={"status": 0, "error": f"Invalid access token {t}", "result": None}
    ),
    "status_0_message_upper_case": lambda _r, t: httpx.Response(
        200, json={"status": 0, "error": f"Token {t.upper()} has expired", "result": None}
    ),
    "unknown_status": lambda _r, t: httpx.Response(200, json={"status": t, "result": None}),
    "html_page": lambda _r, t: httpx.Response(200, text=f"<html>bad token {t}</html>"),
    "not_json": lambda _r, t: httpx.Response(200, text=f"token={t}; broken {{"),
    "not_an_envelope": lambda _r, t: httpx.Response(200, json=[t]),
    "http_status_with_body": lambda _r, t: httpx.Response(401, text=f"token {t} refused"),
    "too_large": lambda _r, t: httpx.Response(200, text=f"{t} " * 400),
    "transport_message_with_url": lambda r, _t: _raise_httpx(
        httpx.ConnectError(f"cannot reach {r.url} (cookie {r.headers.get('cookie')})", request=r)
    ),
    "read_error_with_url": lambda r, _t: _raise_httpx(
        httpx.ReadError(f"connection reset while reading {r.url}", request=r)
    ),
    "local_protocol_error_with_url": lambda r, _t: _raise_httpx(
        httpx.LocalProtocolError(f"illegal header in request to {r.url} {r.headers}")
    ),
}


def _raise_httpx(exc: Exception) -> httpx.Response:
    raise exc


#: call() meets every echo; stream_raw() and call_raw() build their own HTTP status
#: errors and share the transport's mapping, but read no envelope.
ECHO_CASES: Final = [(echo, "call") for echo in ECHOES] + [
    (echo, call)
    for echo in ("http_status_with_body", "transport_message_with_url")
    for call in ("stream_raw", "call_raw")
]


@pytest.mark.parametrize(("echo", "call"), ECHO_CASES)
async def test_an_echoed_token_is_redacted_from_every_error(
    token_in: str, echo: str, call: str
) -> None:
    """The token in the server's answer, in the URL or in the cookie, never shows.

    Each place an error message is built from what the server (or the transport) said
    is reached with the token in it: the message must show ``***`` where the token was.
    """
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        token = _sent_token(request)
        seen.append(token)
        return ECHOES[echo](request, token)

    client = DaktelaClient(
        "https://pbx.example.com",
        ECHO_TOKEN,
        token_in=token_in,  # type: ignore[arg-type]
        transport_factory=lambda _options: httpx.MockTransport(answer),
        retries=0,
        max_answer_bytes=1000,
    )
    async with client:

        async def attempt() -> object:
            if call == "stream_raw":
                async with client.stream_raw("GetQueues"):
                    return None
            if call == "call_raw":
                return await client.call_raw("GetQueues")
            return await client.call("GetQueues")

        error = await capture(attempt)
    assert seen == [ECHO_TOKEN], "the answer was built from the token the request carried"
    # What the error shows and holds (message, repr, attributes, causes); not the locals
    # of the frames that read the answer, which hold the answer with its echo.
    assert search(ECHO_TOKEN, error=error, frames=False) == []
    assert search(ECHO_TOKEN.upper(), error=error, frames=False) == []
    assert search(ECHO_TOKEN, client=client) == []
    text = str(error)
    if echo.startswith("status_0"):
        assert isinstance(error, DaktelaAPIError)
        assert text.endswith(("Invalid access token ***", "Token *** has expired")), text
    elif echo in ("html_page", "not_json", "not_an_envelope", "unknown_status"):
        assert isinstance(error, DaktelaDecodeError)
        assert "***" in text, text
    elif echo == "http_status_with_body":
        assert isinstance(error, DaktelaHTTPStatusError)
        shown = (
            "https://pbx.example.com/api/3.0/GetQueues/json?access_token=***"
            if token_in == "query"
            else "https://pbx.example.com/api/3.0/GetQueues/json"
        )
        assert error.url == shown
        assert text.endswith(f"({shown})"), text
    elif echo == "transport_message_with_url" or (echo, token_in) == (
        "read_error_with_url",
        "query",
    ):
        # The transport's own message named the URL (and the cookie): blanked.
        assert isinstance(error, DaktelaConnectError)
        assert "***" in text, text

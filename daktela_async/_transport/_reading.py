"""Reading answers: decoded and counted as they arrive, within ``max_answer_bytes``.

A buffered answer is decoded here, not by httpx, whose decoders inflate a whole network
read at once (one 64 KiB read of a gzip bomb becomes 64 MiB), and counted as it grows, so
the limit stops a bomb or an endless body early. A ``Content-Encoding`` the request did
not offer in ``Accept-Encoding`` is refused, on buffered and streamed answers alike.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import AsyncIterator, Iterator
from typing import Any, Final, Protocol

import anyio
import httpx

from .._errors import DaktelaAnswerTooLargeError, DaktelaDecodeError

__all__ = ["Answering", "check_content_encoding", "read_answer"]


#: Content codings decoded while counting; ``x-gzip`` is gzip's old name (RFC 9110).
_DECODABLE: Final = frozenset({"gzip", "x-gzip", "deflate"})
#: Chunks read (and dropped) after stopping, waiting for the cancellation to land.
_MAX_DROPPED: Final = 64
#: Largest piece inflated at once.
_PIECE: Final = 2**20


def _codings(value: str) -> list[str]:
    return [c.strip().lower() for c in value.split(",") if c.strip()]


@functools.lru_cache(maxsize=64)
def _offered(accept_encoding: str) -> frozenset[str]:
    """The codings an ``Accept-Encoding`` value offers (none sent: only identity).

    Cached: a client sends the same headers with every request.
    """
    offered = {"identity"}
    for item in _codings(accept_encoding):
        name, _, params = item.partition(";")
        q = params.replace(" ", "").removeprefix("q=")
        try:
            refused = bool(params) and float(q) == 0
        except ValueError:
            refused = False
        if not refused:
            offered.add(name.strip())
    return frozenset(offered)


class Answering(Protocol):
    """What the reading needs of a response: httpx's, or a transport's own lean one."""

    @property
    def status_code(self) -> int:
        """The HTTP status."""

    @property
    def reason_phrase(self) -> str:
        """The status line's reason."""

    @property
    def headers(self) -> httpx.Headers | Any:
        """The response headers (``get`` compares names case-insensitively)."""

    def aiter_raw(self) -> AsyncIterator[bytes]:
        """The body as it arrives, undecoded."""

    async def aread(self) -> bytes:
        """The whole body as it came (used only for a declared length within the limit)."""

    async def aclose(self) -> None:
        """Release the connection (mid-body: close it)."""


def check_content_encoding(
    request_headers: httpx.Headers, response: Answering, *, action: str | None, url: str
) -> str | None:
    """Return the answer's one content coding (``None`` for identity), or refuse it.

    A coding the request did not offer is refused: the client does not send
    ``Accept-Encoding`` unless given one in ``headers``, so a compressed answer is a
    misbehaving proxy or a bomb. Stacked codings (``gzip, gzip``) are refused too: no
    legitimate server sends them, and each layer multiplies the inflation.

    Raises:
        DaktelaDecodeError: The coding was not offered, or codings are stacked.
    """
    value = response.headers.get("content-encoding")
    if not value:
        return None  # nearly every answer: nothing to parse
    found = [c for c in _codings(value) if c != "identity"]
    if not found:
        return None
    asked = ",".join(request_headers.get_list("accept-encoding"))
    offered = _offered(asked)
    refused = [c for c in found if c not in offered and "*" not in offered]
    what = ", ".join(found)
    if refused:
        asked = request_headers.get("accept-encoding") or "none"
        raise DaktelaDecodeError(
            f"{action or 'request'}: the answer is encoded with {what!r}, which the client "
            f"did not offer (Accept-Encoding: {asked}) ({url})",
            action=action,
            status_code=response.status_code,
        )
    if len(found) > 1:
        raise DaktelaDecodeError(
            f"{action or 'request'}: the answer stacks content codings ({what}) ({url})",
            action=action,
            status_code=response.status_code,
        )
    return found[0]


class _Inflater:
    """Decodes gzip or deflate a bounded amount at a time (httpx's decoders do not)."""

    __slots__ = ("_coding", "_obj", "_started")

    def __init__(self, coding: str) -> None:
        self._coding = coding
        # deflate is meant as zlib-wrapped, but some servers send it raw: like httpx,
        # try the wrapper first and fall back on the first chunk.
        wbits = zlib.MAX_WBITS | 16 if coding in ("gzip", "x-gzip") else zlib.MAX_WBITS
        self._obj = zlib.decompressobj(wbits)
        self._started = False

    def decode(self, data: bytes, room: int | None) -> Iterator[bytes]:
        """Yield *data* decoded, ``room + 1`` bytes at most in all (``None``: no bound).

        The caller counts what it receives and stops at the limit; asking for one byte
        more than it may keep is how it learns the answer is too large.
        """
        while not self._obj.eof:
            # Pieces of at most 1 MiB: zlib grows its output buffer by copying, so one
            # 64 MiB piece would briefly cost twice that.
            cap = _PIECE if room is None else min(room + 1, _PIECE)
            try:
                out = self._obj.decompress(data, cap)
            except zlib.error:
                if self._started or self._coding != "deflate":
                    raise
                self._obj = zlib.decompressobj(-zlib.MAX_WBITS)
                self._started = True
                continue
            self._started = True
            data = self._obj.unconsumed_tail
            if out:
                yield out
                if room is not None:
                    room -= len(out)
                    if room < 0:
                        return
            # Done when the input is used up and the output was not cut at the cap (a
            # full output may leave more pending inside zlib: ask again with no input).
            # No output at all ends it too, so a zlib quirk cannot spin this loop.
            if not out or (not data and len(out) < cap):
                return

    def flush(self) -> bytes:
        """What the decoder still holds once the body has ended."""
        return self._obj.flush()


async def read_answer(
    request_headers: httpx.Headers,
    response: Answering,
    limit: int | None,
    *,
    action: str | None,
    url: str,
) -> bytes:
    """Read *response*'s whole body, decoded, refusing it once it passes *limit* bytes.

    Bytes are counted as decoded, while they arrive: a Content-Length may lie and a
    0.5 MB gzip body may hold 500 MB. The caller closes the response (mid-body, that
    closes its connection).

    Raises:
        DaktelaAnswerTooLargeError: The decoded body passed *limit*.
        DaktelaDecodeError: A refused or corrupt content coding.
    """
    coding = check_content_encoding(request_headers, response, action=action, url=url)

    def too_large() -> DaktelaAnswerTooLargeError:
        return DaktelaAnswerTooLargeError(
            f"{action or 'request'}: the answer is larger than max_answer_bytes={limit} "
            f"(counted decoded); stream large downloads with stream_raw() ({url})",
            action=action,
            limit=limit or 0,
            status_code=response.status_code,
        )

    if isinstance(response, httpx.Response):
        try:
            # A transport may hand back a response already read (httpx.MockTransport
            # does): its body is decoded and in memory, so only the limit is left.
            done = response.content
        except httpx.ResponseNotRead:
            pass
        else:
            if limit is not None and len(done) > limit:
                raise too_large()
            return done
    declared = response.headers.get("content-length", "")
    if coding is None and limit is not None and declared.isdigit() and int(declared) > limit:
        raise too_large()  # refused before a byte is read
    if coding is None and declared.isdigit() and not isinstance(response, httpx.Response):
        # A transport of ours (aiohttp) whose parser holds the body to its declared
        # length, already checked against the limit: read it whole, in one call.
        return await response.aread()
    inflater = _Inflater(coding) if coding in _DECODABLE else None
    if coding is not None and inflater is None:
        raise DaktelaDecodeError(
            f"{action or 'request'}: cannot decode the content coding {coding!r} "
            f"(supported: gzip, deflate) ({url})",
            action=action,
            status_code=response.status_code,
        )
    body = _Body(limit, inflater)
    complete = True
    corrupt: zlib.error | None = None
    dropped = 0
    with anyio.CancelScope() as scope:
        async for raw in response.aiter_raw():
            if not complete or corrupt is not None:
                # Only until the cancellation lands inside the transport. A transport
                # whose stream never waits (an in-memory one) would never see it: give up
                # on a clean end rather than read an endless body.
                dropped += 1
                if dropped > _MAX_DROPPED:
                    break
                continue
            try:
                complete = body.add(raw)
            except zlib.error as exc:
                corrupt = exc
            if not complete or corrupt is not None:
                # Leaving the loop here would abandon the transport's body generators
                # half-way (trio warns when the collector finds them). Cancelling makes
                # the next read inside the transport raise, which ends each of them, as
                # a timeout does; a chunk already buffered is dropped on the way.
                scope.cancel()
        if complete and corrupt is None:
            try:
                complete = body.end()
            except zlib.error as exc:
                corrupt = exc
    if corrupt is not None:
        raise DaktelaDecodeError(
            f"{action or 'request'}: the answer's {coding} encoding is corrupt: {corrupt} ({url})",
            action=action,
            status_code=response.status_code,
        ) from corrupt
    if not complete:
        raise too_large()
    return b"".join(body.chunks)


class _Body:
    """The decoded body as it grows, refusing to grow past the limit."""

    __slots__ = ("chunks", "inflater", "limit", "size")

    def __init__(self, limit: int | None, inflater: _Inflater | None) -> None:
        self.limit = limit
        self.inflater = inflater
        self.chunks: list[bytes] = []
        self.size = 0

    def _keep(self, piece: bytes) -> bool:
        self.size += len(piece)
        if self.limit is not None and self.size > self.limit:
            return False
        self.chunks.append(piece)
        return True

    def add(self, raw: bytes) -> bool:
        """Keep *raw*, decoded; ``False`` once the body has passed the limit.

        Raises:
            zlib.error: The compressed data is corrupt.
        """
        if self.inflater is None:
            return self._keep(raw)
        room = None if self.limit is None else max(0, self.limit - self.size)
        return all(self._keep(piece) for piece in self.inflater.decode(raw, room))

    def end(self) -> bool:
        """Keep what the decoder still holds; ``False`` if that passes the limit."""
        return self.inflater is None or self._keep(self.inflater.flush())

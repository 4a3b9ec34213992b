"""``GetRecording``: the one action whose answer is bytes, not the JSON envelope.

Three ways to get a recording: :func:`get_recording` (all bytes in memory),
:func:`stream_recording` (chunks as they arrive) and :func:`save_recording` (to a file,
never holding more than one chunk).
"""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import cast

import anyio

from .._actions import ACTIONS
from .._config import NOT_GIVEN, NotGiven, RetryPolicy, Timeouts
from .._envelope import SecretLike, decode_envelope, snippet
from .._errors import DaktelaDecodeError
from ._base import Namespace, action, prepare_params

__all__ = ["get_recording", "save_recording", "stream_recording"]

_ACTION = "GetRecording"
_CHUNK = 64 * 1024
#: An error envelope instead of audio is a few hundred bytes; more is not read for it.
_ENVELOPE_MAX = 64 * 1024
#: Chunks dropped after stopping, waiting for the cancellation to land.
_MAX_DROPPED = 64


def _query(recording_hash: str, octetstream: bool | str | None) -> dict[str, object]:
    return prepare_params(
        ACTIONS[_ACTION], {"recording_hash": recording_hash, "octetstream": octetstream}
    )


def _check_audio(content_type: str, head: bytes, secret: SecretLike) -> None:
    # The PBX answers an unknown hash with the JSON envelope instead of audio.
    if "json" in content_type or head.lstrip()[:1] == b"{":
        decode_envelope(head, action=_ACTION, secret=secret)
        raise DaktelaDecodeError(
            f"{_ACTION}: expected audio, got a JSON answer",
            action=_ACTION,
            snippet=snippet(head, secret),
        )


async def _envelope_head(first: bytes, chunks: AsyncIterator[bytes]) -> bytes:
    """*first* and what follows, up to :data:`_ENVELOPE_MAX`: an error envelope is small."""
    head = bytearray(first)
    dropped = 0
    with anyio.CancelScope() as scope:
        async for chunk in chunks:
            if len(head) > _ENVELOPE_MAX:
                # Only until the cancellation lands inside the transport; a stream that
                # never waits would never see it, so give up after a few chunks.
                dropped += 1
                if dropped > _MAX_DROPPED:
                    break
                continue
            head += chunk
            if len(head) > _ENVELOPE_MAX:
                # Cancelling, not leaving the loop: the next read inside the transport
                # raises and ends its body generators properly (the pool reads the same way).
                scope.cancel()
    return bytes(head[:_ENVELOPE_MAX])


@action(_ACTION)
async def get_recording(
    self: Namespace,
    *,
    recording_hash: str,
    octetstream: bool | str | None = None,
    timeout: float | Timeouts | NotGiven | None = NOT_GIVEN,
    retries: int | RetryPolicy | NotGiven = NOT_GIVEN,
) -> bytes:
    """Download a recording into memory.

    ``GetRecording``, API 3.0+ (Calls, Statistics); a read: retried on transient failures.

    Args:
        recording_hash: The hash from ``AboutCall`` (``CDRRecord.recording_hash``).
        octetstream: Ask for ``application/octet-stream`` instead of the audio type.
        timeout: Timeouts of this call: a :class:`~daktela_async.Timeouts`, one number for
            all of them or ``None`` for none; the client's by default.
        retries: Retry policy of this call: a :class:`~daktela_async.RetryPolicy` or the
            number of retries; the client's by default.

    Returns:
        The recording's bytes (WAV or MP3).

    Raises:
        DaktelaAPIError: The server answered with an error envelope (unknown hash).
        DaktelaError: Any other failure.
    """
    raw = await self._client.call_raw(
        _ACTION, query=_query(recording_hash, octetstream), timeout=timeout, retries=retries
    )
    _check_audio(raw.content_type, raw.content, self._client._token)
    return raw.content


async def stream_recording(
    self: Namespace,
    *,
    recording_hash: str,
    octetstream: bool | str | None = None,
    chunk_size: int = _CHUNK,
    timeout: float | Timeouts | NotGiven | None = NOT_GIVEN,
) -> AsyncIterator[bytes]:
    """Yield a recording in chunks as they arrive, without holding it in memory.

    Streams are not retried (part of the audio may already have been consumed), so there
    is no ``retries=``.

    Args:
        recording_hash: The hash from ``AboutCall``.
        octetstream: Ask for ``application/octet-stream`` instead of the audio type.
        chunk_size: Bytes per chunk.
        timeout: Timeouts of this download (a :class:`~daktela_async.Timeouts`, one
            number or ``None``); the client's by default. The deadline covers only the
            wait for the answer's headers, the other timeouts each read.

    Yields:
        Chunks of the recording.

    Raises:
        DaktelaAPIError: The server answered with an error envelope (unknown hash).
        DaktelaError: Any other failure.
    """
    query = _query(recording_hash, octetstream)
    async with self._client.stream_raw(_ACTION, query=query, timeout=timeout) as response:
        secret = self._client._token
        if "json" in response.headers.get("content-type", ""):
            raw_chunks = cast("AsyncGenerator[bytes, None]", response.aiter_bytes(chunk_size))
            async with aclosing(raw_chunks) as head_chunks:
                _check_audio("json", await _envelope_head(b"", head_chunks), secret)
        # httpx types it as an iterator; it is a generator, which aclosing needs.
        body = cast("AsyncGenerator[bytes, None]", response.aiter_bytes(chunk_size))
        async with aclosing(body) as chunks:
            first = True
            async for chunk in chunks:
                if first and chunk.lstrip()[:1] == b"{":
                    # An error envelope served with an audio content type.
                    _check_audio("json", await _envelope_head(chunk, chunks), secret)
                first = False
                yield chunk


async def save_recording(
    self: Namespace,
    path: str | os.PathLike[str],
    *,
    recording_hash: str,
    octetstream: bool | str | None = None,
    timeout: float | Timeouts | NotGiven | None = NOT_GIVEN,
) -> int:
    """Write a recording to *path*, chunk by chunk; a partial file is removed on failure.

    Like :func:`stream_recording`, it is not retried and takes no ``retries=``.

    Args:
        path: Where to write the audio.
        recording_hash: The hash from ``AboutCall``.
        octetstream: Ask for ``application/octet-stream`` instead of the audio type.
        timeout: Timeouts of this download, as for :func:`stream_recording`.

    Returns:
        The number of bytes written.

    Raises:
        DaktelaError: The download failed (nothing is left at *path*).
    """
    written = 0
    target = anyio.Path(path)
    try:
        async with await anyio.open_file(target, "wb") as file:
            async for chunk in stream_recording(
                self, recording_hash=recording_hash, octetstream=octetstream, timeout=timeout
            ):
                await file.write(chunk)
                written += len(chunk)
    except BaseException:
        with anyio.CancelScope(shield=True):
            await target.unlink(missing_ok=True)
        raise
    return written

"""Pagination over skip/take, and recordings as bytes, chunks or a file."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio.lowlevel
import httpx
import pytest

from daktela_async import DaktelaAPIError, DaktelaClient, DaktelaError, DaktelaUsageError
from daktela_async._models import Attempt
from tests.support import TOKEN, FakePBX

pytestmark = pytest.mark.anyio


def attempts_server(total: int, pbx: FakePBX) -> None:
    rows = [
        {
            "id": i,
            "id_call": f"{i}.0",
            "name": "ATTEMPT",
            "duration": 20,
            "id_agent": 4,
            "id_queue": 1,
            "start_time": "2015-09-23 13:30:25",
            "end_time": "2015-09-23 13:30:45",
        }
        for i in range(total)
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        skip = int(request.url.params.get("skip", 0))
        take = int(request.url.params.get("take", 100))
        data = rows[skip : skip + take]
        return httpx.Response(
            200, json={"status": 1, "error": None, "result": {"data": data, "total": str(total)}}
        )

    pbx.answer(handler)


def client(pbx: FakePBX) -> DaktelaClient:
    return DaktelaClient("https://pbx.example.com", TOKEN, transport_factory=pbx.factory)


async def test_iterates_every_page_until_total() -> None:
    pbx = FakePBX()
    attempts_server(250, pbx)
    async with client(pbx) as c:
        rows = [
            row
            async for row in c.calls.iter_attempts(
                datetime_from="2015-08-14 00:00:00",
                datetime_to="2015-10-31 00:00:00",
                page_size=100,
            )
        ]
    assert [r.id for r in rows] == list(range(250))
    assert all(isinstance(r, Attempt) for r in rows)
    assert [(r.url.params["skip"], r.url.params["take"]) for r in pbx.requests] == [
        ("0", "100"),
        ("100", "100"),
        ("200", "100"),
    ]


async def test_limit_caps_rows_and_requests() -> None:
    pbx = FakePBX()
    attempts_server(5000, pbx)
    async with client(pbx) as c:
        rows = [
            r
            async for r in c.calls.iter_attempts(
                datetime_from="2015-08-14 00:00:00",
                datetime_to="2015-10-31 00:00:00",
                page_size=1000,
                limit=1500,
            )
        ]
    assert len(rows) == 1500
    assert [r.url.params["take"] for r in pbx.requests] == ["1000", "500"]


async def test_exact_multiple_of_page_size_stops_on_total() -> None:
    pbx = FakePBX()
    attempts_server(200, pbx)
    async with client(pbx) as c:
        rows = [
            r
            async for r in c.calls.iter_attempts(
                datetime_from="2015-08-14 00:00:00",
                datetime_to="2015-10-31 00:00:00",
                page_size=100,
            )
        ]
    assert len(rows) == 200
    assert len(pbx.requests) == 2


@pytest.mark.parametrize("page_size", [0, 1001])
async def test_page_size_respects_the_server_limit(page_size: int) -> None:
    pbx = FakePBX()
    async with client(pbx) as c:
        with pytest.raises(DaktelaUsageError, match="page_size"):
            async for _ in c.statistics.iter_stats_calls(
                datetime_from="2015-08-14 00:00:00",
                datetime_to="2015-10-31 00:00:00",
                page_size=page_size,
            ):
                pass
    assert pbx.requests == []


async def test_single_call_returns_a_page() -> None:
    pbx = FakePBX()
    attempts_server(3, pbx)
    async with client(pbx) as c:
        page = await c.calls.get_attempts(
            datetime_from="2015-08-14 00:00:00", datetime_to="2015-10-31 00:00:00", take=2
        )
    assert page.total == 3
    assert [a.id for a in page.data] == [0, 1]


AUDIO = b"RIFF" + bytes(range(256)) * 1000


async def test_recording_as_bytes_chunks_and_file(tmp_path: object) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    pbx = FakePBX()
    pbx.answer(httpx.Response(200, content=AUDIO, headers={"content-type": "audio/x-wav"}))
    async with client(pbx) as c:
        assert await c.calls.get_recording(recording_hash="abc") == AUDIO
        chunks = [
            chunk
            async for chunk in c.statistics.stream_recording(recording_hash="abc", chunk_size=4096)
        ]
        assert b"".join(chunks) == AUDIO
        assert max(len(chunk) for chunk in chunks) <= 4096
        target = tmp_path / "call.wav"
        assert await c.calls.save_recording(target, recording_hash="abc", octetstream=True) == len(
            AUDIO
        )
    assert target.read_bytes() == AUDIO
    assert pbx.last.url.params["octetstream"] == "true"
    assert "access_token" in pbx.last.url.params


async def test_unknown_recording_raises_the_servers_error(tmp_path: object) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    pbx = FakePBX()
    pbx.answer(
        httpx.Response(
            200,
            json={"status": 0, "error": "Nahrávka neexistuje"},
            headers={"content-type": "application/json"},
        )
    )
    async with client(pbx) as c:
        with pytest.raises(DaktelaAPIError, match="Nahrávka neexistuje"):
            await c.calls.get_recording(recording_hash="nope")
        target = tmp_path / "call.wav"
        with pytest.raises(DaktelaError):
            await c.calls.save_recording(target, recording_hash="nope")
    assert not target.exists()


async def test_a_json_answer_instead_of_audio_is_read_bounded_and_scrubbed() -> None:
    # An "envelope" that never ends, served as audio, after a token echo: the stream
    # stops reading at the envelope bound and the error shows no token.
    sent: list[int] = []

    async def endless() -> AsyncIterator[bytes]:
        yield b'{"status":1,"result":"' + TOKEN.encode() + b'",' + b" " * 1000
        for _ in range(100_000):  # 6.4 GB if read to the end
            sent.append(1)
            await anyio.lowlevel.checkpoint()  # as a socket read would
            yield b" " * 65536

    pbx = FakePBX()
    pbx.answer(
        lambda _: httpx.Response(200, content=endless(), headers={"content-type": "audio/wav"})
    )
    async with client(pbx) as c:
        with pytest.raises(DaktelaError) as raised:
            async for _ in c.calls.stream_recording(recording_hash="abc"):
                pass
    assert len(sent) < 80
    assert TOKEN[:8] not in str(raised.value)
    assert TOKEN[:8] not in getattr(raised.value, "snippet", "")

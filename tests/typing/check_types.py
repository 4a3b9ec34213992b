"""Static typing checks: what mypy --strict infers for the public API.

Never run: ``nox -s typecheck`` (``mypy``, whose ``files`` include ``tests``) checks this
module, and every ``assert_type`` below is an error there when the inferred type differs.
The functions are coroutines only so that ``await`` can be written; nothing calls them.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Mapping
from typing import assert_type

from daktela_async import DaktelaClient, RetryPolicy, Timeouts
from daktela_async.models import (
    DialerStatus,
    FormStatus,
    NumberCheck,
    Page,
    Queue,
    Record,
    User,
    Users,
)


async def optional_id_overloads(client: DaktelaClient, some_id: str | None) -> None:
    """With an id: one model; without: a mapping by id; an optional id: either."""
    assert_type(await client.queues.get_queues(), Mapping[str, Queue])
    assert_type(await client.queues.get_queues(3), Queue)
    assert_type(await client.queues.get_queues("3"), Queue)
    assert_type(await client.queues.get_queues(id=3), Queue)
    assert_type(await client.queues.get_queues(None), Mapping[str, Queue])
    assert_type(await client.queues.get_queues(some_id), Queue | Mapping[str, Queue])
    for queue in (await client.queues.get_queues()).values():
        assert_type(queue, Queue)
    assert_type(await client.operators.get_users(), Users)
    assert_type((await client.operators.get_users()).by_login(), dict[str, User])
    assert_type(await client.operators.get_users(7), User)
    assert_type(await client.operators.get_users(extension="200"), User)
    assert_type(await client.operators.get_users(7, extension="200"), User)


async def section_forms(client: DaktelaClient) -> None:
    """Each section's own form of a shared action, with its own result type."""
    assert_type(await client.autodialer.get_statuses(), tuple[DialerStatus, ...])
    assert_type(await client.forms.get_statuses(), Mapping[str, FormStatus])
    assert_type(await client.forms.get_statuses(4, queue="1000"), Mapping[str, FormStatus])
    assert_type(await client.autodialer.check_number(number="777888999"), NumberCheck)


async def per_call_options(client: DaktelaClient) -> None:
    """``timeout=`` and ``retries=`` on typed methods keep the result types."""
    assert_type(await client.queues.get_queues(timeout=2.5), Mapping[str, Queue])
    assert_type(await client.queues.get_queues(3, timeout=None, retries=0), Queue)
    assert_type(
        await client.queues.get_queues(timeout=Timeouts(read=5.0), retries=RetryPolicy()),
        Mapping[str, Queue],
    )
    assert_type(await client.forms.get_records(take=10, timeout=10), Page[Record])
    rows = client.forms.iter_records(page_size=500, timeout=30, retries=1)
    assert_type(rows, AsyncIterator[Record])
    assert_type(await client.calls.get_recording(recording_hash="x", timeout=60), bytes)


async def client_construction(context: ssl.SSLContext) -> None:
    """with_options() and from_env() return clients; verify= takes its four forms."""
    async with DaktelaClient.from_env(timeout=10) as client:
        assert_type(client, DaktelaClient)
        view = client.with_options(timeout=120, retries=0)
        assert_type(view, DaktelaClient)
        assert_type(await view.queues.get_queues(), Mapping[str, Queue])
    assert_type(DaktelaClient.from_env(environ={"DAKTELA_URL": "x"}), DaktelaClient)
    for verify in (True, False, "/etc/ssl/internal-ca.pem", context):
        assert_type(DaktelaClient("https://pbx.example.com", "t", verify=verify), DaktelaClient)

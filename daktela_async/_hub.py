"""Fan-out: one publisher, many subscribers, each with its own bounded buffer.

Publishing is synchronous and never waits: each subscriber's buffer applies its overflow
policy on the spot, so a slow subscriber never delays the pollers or the other
subscribers.

- ``"drop_oldest"``: a ring of ``maxsize`` events; when it is full the oldest is dropped
  and the subscriber next reads an :class:`EventsDropped` saying how many it missed.
- ``"latest"``: events are coalesced on their key (per agent, per queue, per call...): a
  slow dashboard always holds the newest state of everything and nothing older. Beyond
  ``maxsize`` distinct keys the oldest key is dropped (and counted as missed).
- ``"block"``: nothing is dropped while the subscriber keeps up; once its buffer has been
  over ``maxsize`` for ``block_timeout`` seconds it is disconnected and its iterator raises
  :class:`SubscriberTooSlow`.

The hub knows events only by their base class (``_event.py``): the realtime watcher and the
webhook app each publish on one, and both import it from here, public as
``daktela_async.realtime.Hub`` (see ``docs/architecture.md``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import OrderedDict, deque
from collections.abc import Callable, Collection, Iterable
from types import TracebackType
from typing import Any, Literal, Self

import anyio
import attrs
import sniffio

from ._config import BLOCK_TIMEOUT, SUBSCRIBER_MAXSIZE
from ._errors import DaktelaError, DaktelaUsageError
from ._event import Event, EventsDropped, event_kinds

__all__ = ["Hub", "OverflowPolicy", "SubscriberStats", "SubscriberTooSlow", "Subscription"]

#: What a full subscriber buffer does, see the module docstring.
OverflowPolicy = Literal["drop_oldest", "latest", "block"]

_POLICIES = ("drop_oldest", "latest", "block")


class SubscriberTooSlow(DaktelaError):
    """A ``"block"`` subscriber stayed full longer than its timeout and was disconnected."""


@attrs.frozen(slots=True)
class SubscriberStats:
    """Counters of one subscription.

    Attributes:
        name: The name given at subscribe time (or ``subscriber-N``).
        delivered: Events handed to the subscriber.
        dropped: Events dropped or coalesced away by the overflow policy.
        buffered: Events waiting to be read.
        policy: The overflow policy.
    """

    name: str
    delivered: int
    dropped: int
    buffered: int
    policy: OverflowPolicy


class Subscription:
    """A subscriber's view of the hub: an async iterator of events with a bounded buffer.

    Use it as ``async with watcher.subscribe() as events: async for event in events: ...``;
    leaving the block unsubscribes. Iteration ends when the hub closes.
    """

    def __init__(
        self,
        hub: Hub,
        *,
        name: str,
        kinds: Collection[str] | None,
        users: Collection[str] | None,
        maxsize: int,
        overflow: OverflowPolicy,
        block_timeout: float,
    ) -> None:
        self._hub = hub
        self.name = name
        self._kinds = frozenset(kinds) if kinds is not None else None
        self._users = frozenset(users) if users is not None else None
        self._maxsize = maxsize
        self._policy: OverflowPolicy = overflow
        self._block_timeout = block_timeout
        self._ring: deque[Event] = deque()
        self._latest: OrderedDict[tuple[Any, ...], Event] = OrderedDict()
        self._missed = 0
        self._full_since: float | None = None
        # The reader waits on an asyncio future when it runs on asyncio (a third of
        # the cost of an anyio.Event per wake-up, and nothing at all to do for an event
        # offered while the reader is busy), on an anyio.Event otherwise (trio).
        self._waiter: asyncio.Future[None] | None = None
        self._wakeup: anyio.Event | None = None
        self._closed = False
        self._failure: DaktelaError | None = None
        # The seq of the last event dropped since the last EventsDropped was read.
        self._dropped_seq = 0
        self.delivered = 0
        self.dropped = 0

    def __repr__(self) -> str:
        return f"<Subscription {self.name} {self._policy} buffered={self._buffered()}>"

    def wants(self, event: Event) -> bool:
        """Whether the filters let *event* through."""
        if self._kinds is not None and event.kind not in self._kinds:
            return False
        if self._users is not None:
            user = getattr(event, "user", None)
            if user is not None and user not in self._users:
                return False
        return True

    def _buffered(self) -> int:
        return len(self._latest) if self._policy == "latest" else len(self._ring)

    def _offer(self, event: Event) -> None:
        """Take one event from the publisher; never waits."""
        if self._closed:
            return
        if self._policy == "latest":
            key = event.key
            old = self._latest.pop(key, None)
            if old is None and len(self._latest) >= self._maxsize:
                old = self._latest.popitem(last=False)[1]
            if old is not None:
                self._dropped(old)
            self._latest[key] = event
        elif self._policy == "drop_oldest":
            if len(self._ring) >= self._maxsize:
                self._dropped(self._ring.popleft())
            self._ring.append(event)
        else:
            self._ring.append(event)
            if len(self._ring) > self._maxsize:
                now = anyio.current_time()
                if self._full_since is None:
                    self._full_since = now
                elif now - self._full_since > self._block_timeout:
                    self._fail()
                    return
            else:
                self._full_since = None
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)
        elif self._wakeup is not None:
            self._wakeup.set()

    def _dropped(self, event: Event) -> None:
        self._missed += 1
        self.dropped += 1
        self._dropped_seq = max(self._dropped_seq, event.seq)

    def _fail(self) -> None:
        self._failure = SubscriberTooSlow(
            f"subscriber {self.name!r} stayed over {self._maxsize} buffered events for more "
            f"than {self._block_timeout:g} s and was disconnected"
        )
        self.dropped += len(self._ring)
        self._ring.clear()
        self.close()

    def close(self, failure: DaktelaError | None = None) -> None:
        """Stop receiving; buffered events can still be read, then iteration ends.

        Args:
            failure: Raised by the iterator after the buffered events (instead of
                ending quietly), e.g. the watcher's refused token.
        """
        if failure is not None and self._failure is None:
            self._failure = failure
        self._closed = True
        self._hub._discard(self)
        self._wake()

    def _take(self) -> Event | None:
        if self._missed and self._policy != "block":
            # Told where the lost events were, so seq never goes backwards: with
            # "latest" the buffer may still hold older events than the last one
            # coalesced away, and those come first.
            head = next(iter(self._latest.values()), None) if self._policy == "latest" else None
            if head is None or head.seq > self._dropped_seq:
                missed, self._missed = self._missed, 0
                return EventsDropped(seq=self._dropped_seq, time=_now(), missed=missed)
        if self._policy == "latest":
            if self._latest:
                return self._latest.popitem(last=False)[1]
            return None
        if self._ring:
            event = self._ring.popleft()
            if len(self._ring) <= self._maxsize:
                # Back to maxsize (not below): the overflow is over, and forgotten.
                self._full_since = None
            return event
        return None

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Event:
        while True:
            event = self._take()
            if event is not None:
                self.delivered += 1
                return event
            if self._failure is not None:
                # A fresh traceback per raise: the same failure may end many iterators.
                raise self._failure.with_traceback(None)
            if self._closed:
                raise StopAsyncIteration
            await self._wait()

    async def _wait(self) -> None:
        """Until an event is offered or the subscription closes."""
        if sniffio.current_async_library() == "asyncio":
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                # Cancelled while waiting: the next offer must not find a stale waiter.
                if self._waiter is waiter:
                    self._waiter = None
            return
        wakeup = self._wakeup = anyio.Event()
        try:
            await wakeup.wait()
        finally:
            self._wakeup = None

    def get_nowait(self) -> Event | None:
        """The next buffered event, or ``None`` when none is waiting."""
        event = self._take()
        if event is not None:
            self.delivered += 1
        return event

    def stats(self) -> SubscriberStats:
        """This subscription's counters."""
        return SubscriberStats(
            name=self.name,
            delivered=self.delivered,
            dropped=self.dropped,
            buffered=self._buffered(),
            policy=self._policy,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Hub:
    """Stamps events with a gap-free ``seq`` and fans them out to subscriptions.

    Args:
        replay: Called when a subscriber joins; returns the events that describe the
            current state (``AgentStateChanged`` with ``previous=None`` for every known
            agent...), delivered before anything newer.
    """

    def __init__(self, replay: Callable[[], Iterable[Event]] | None = None) -> None:
        self._replay = replay
        # Copy-on-write: publishing iterates a tuple that a subscriber dropping itself
        # during delivery cannot shift under it.
        self._subscriptions: tuple[Subscription, ...] = ()
        self._seq = 0
        self._counter = 0
        self._closed = False
        self.published = 0

    @property
    def seq(self) -> int:
        """The ``seq`` of the last published event (0 before any)."""
        return self._seq

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def publish(self, event: Event) -> Event:
        """Stamp *event* with the next ``seq`` and the time, and offer it to every subscriber.

        Never waits. Returns the stamped event.
        """
        self._seq += 1
        stamped = attrs.evolve(event, seq=self._seq, time=_now())
        self.published += 1
        for subscription in self._subscriptions:
            if subscription.wants(stamped):
                subscription._offer(stamped)
        return stamped

    def subscribe(
        self,
        *,
        kinds: Collection[str | type[Event]] | None = None,
        users: Collection[str] | None = None,
        maxsize: int = SUBSCRIBER_MAXSIZE,
        overflow: OverflowPolicy = "drop_oldest",
        block_timeout: float = BLOCK_TIMEOUT,
        replay: bool = True,
        name: str | None = None,
    ) -> Subscription:
        """Open a subscription; use it as an async context manager and iterate it.

        Args:
            kinds: Only these event kinds (classes or their ``kind`` strings).
            users: Only events about these agent logins (events about no agent, such as
                queue statistics, still pass).
            maxsize: Buffer size before the overflow policy applies.
            overflow: ``"drop_oldest"``, ``"latest"`` or ``"block"``.
            block_timeout: For ``"block"``: seconds over ``maxsize`` before disconnecting.
            replay: Start with the current state of everything watched.
            name: A name for :meth:`stats` and error messages.

        Raises:
            DaktelaUsageError: Bad options, an unknown kind, or the hub is closed.
        """
        if overflow not in _POLICIES:
            raise DaktelaUsageError(
                f"overflow must be one of {', '.join(_POLICIES)}, not {overflow!r}",
                parameter="overflow",
            )
        if maxsize < 1:
            raise DaktelaUsageError("maxsize must be at least 1", parameter="maxsize")
        if self._closed:
            raise DaktelaUsageError("the watcher is closed")
        kind_names = None if kinds is None else check_kinds(kinds)
        if isinstance(users, str | bytes):
            raise DaktelaUsageError(
                f"users must be a list of logins, not one string: write users=[{users!r}]",
                parameter="users",
            )
        self._counter += 1
        subscription = Subscription(
            self,
            name=name or f"subscriber-{self._counter}",
            kinds=kind_names,
            users=users,
            maxsize=maxsize,
            overflow=overflow,
            block_timeout=block_timeout,
        )
        if replay and self._replay is not None:
            now = _now()
            for event in self._replay():
                stamped = attrs.evolve(event, seq=self._seq, time=now)
                if subscription.wants(stamped):
                    subscription._offer(stamped)
        self._subscriptions = (*self._subscriptions, subscription)
        return subscription

    def _discard(self, subscription: Subscription) -> None:
        if subscription in self._subscriptions:
            self._subscriptions = tuple(s for s in self._subscriptions if s is not subscription)

    def subscriptions(self) -> list[Subscription]:
        """The open subscriptions."""
        return list(self._subscriptions)

    def close(self, failure: DaktelaError | None = None) -> None:
        """End every subscription (their iterators finish after the buffered events).

        Args:
            failure: What the iterators raise after their buffered events, when the
                end is a failure (a refused token) rather than a normal close.
        """
        self._closed = True
        for subscription in self._subscriptions:
            subscription.close(failure)


def check_kinds(kinds: Iterable[str | type[Event]]) -> set[str]:
    """Kind names from event classes or names; an unknown one is a :class:`DaktelaUsageError`."""
    known = event_kinds()
    if isinstance(kinds, str | bytes):
        raise DaktelaUsageError(
            f"kinds must be a list of event kinds, not one string: write kinds=[{kinds!r}]",
            parameter="kinds",
        )
    names: set[str] = set()
    for kind in kinds:
        if isinstance(kind, type) and issubclass(kind, Event) and kind is not Event:
            names.add(kind.kind)
        elif isinstance(kind, str) and kind in known:
            names.add(kind)
        else:
            raise DaktelaUsageError(
                f"unknown event kind {kind!r}; choose from {', '.join(sorted(known))} "
                "(or pass the event classes)",
                parameter="kinds",
            )
    return names

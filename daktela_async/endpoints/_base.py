"""What every section namespace shares: validation, the call, decoding, pagination.

Validation happens here, before anything is sent, in this order: unknown or missing
keyword arguments (Python's own binding, reported as :class:`DaktelaUsageError`), one-of
groups, then each value against its documented type, enumeration and range.
"""

from __future__ import annotations

import datetime as dt
import difflib
import enum
import functools
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Concatenate, Final, ParamSpec, TypeVar

from .._actions import ACTIONS, section_spec
from .._config import NOT_GIVEN, NotGiven, RetryPolicy, Timeouts
from .._errors import DaktelaDecodeError, DaktelaUsageError
from .._models import Page, structure
from .._spec import ActionSpec
from .._transport._query import format_bool
from .._transport._request import check_presence, pick_version

if TYPE_CHECKING:
    from .._client import DaktelaClient

__all__ = ["Namespace", "action", "paged", "prepare_params"]

P = ParamSpec("P")
R = TypeVar("R")
NS = TypeVar("NS", bound="Namespace")

#: The server refuses pages larger than this ("The maximum limit of returned calls is 1000").
MAX_PAGE_SIZE: Final = 1000

_ARG_NAME = re.compile(r"'(\w+)'")


class Namespace:
    """One section of the API document, as an attribute of the client (``client.calls``)."""

    __slots__ = ("_client",)

    def __init__(self, client: DaktelaClient) -> None:
        self._client = client

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {self._client!r}>"

    async def _invoke(
        self,
        action_name: str,
        params: Mapping[str, object],
        result_type: Any,
        *,
        path_id: object = None,
        section: str | None = None,
        timeout: float | Timeouts | NotGiven | None = NOT_GIVEN,
        retries: int | RetryPolicy | NotGiven = NOT_GIVEN,
    ) -> Any:
        """Validate, send and decode one call of *action_name*.

        *section* names the section whose own form of the action is sent (see
        :data:`~daktela_async._actions.SECTION_FORMS`): its parameters are checked and
        its version goes in the URL. *timeout* and *retries* are passed to
        :meth:`~daktela_async.DaktelaClient.call` as given.
        """
        spec = ACTIONS[action_name] if section is None else section_spec(section, action_name)
        query = prepare_params(spec, params)
        if spec.id_required and path_id is None:
            raise DaktelaUsageError(
                f"{spec.name}: missing mandatory parameter 'id'", action=spec.name, parameter="id"
            )
        # A section form is another action under the same name: its own version, which
        # call() cannot pick from the merged entry of the catalogue.
        version: str | NotGiven = (
            NOT_GIVEN if section is None else pick_version(spec, query, self._client.api_version)
        )
        # What call() does, without its argument handling and its frame (the parameters
        # are checked already): prepared, sent, the envelope's result.
        client = self._client
        prepared = client._prepare(
            spec.name,
            path_id,
            version=version,
            format="json",
            timeout=timeout,
            retries=retries,
            params=query,
        )
        result = client._result(prepared, await client._attempts(prepared))
        if result_type is None:
            return None
        # The client's token holder, not the token: decode errors quote the body, and a
        # server that echoes the token must not get it into the message.
        return structure(result, result_type, action=spec.name, secret=self._client._token)

    async def _pages(
        self,
        action_name: str,
        params: Mapping[str, object],
        row_type: Any,
        *,
        page_size: int,
        limit: int | None,
        timeout: float | Timeouts | NotGiven | None = NOT_GIVEN,
        retries: int | RetryPolicy | NotGiven = NOT_GIVEN,
    ) -> AsyncIterator[Any]:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise DaktelaUsageError(
                f"{action_name}: page_size must be between 1 and {MAX_PAGE_SIZE}",
                action=action_name,
                parameter="page_size",
            )
        if limit is not None and limit < 0:
            raise DaktelaUsageError(
                f"{action_name}: limit must be >= 0", action=action_name, parameter="limit"
            )
        skip = 0
        yielded = 0
        previous: tuple[Any, ...] = ()
        while limit is None or yielded < limit:
            take = page_size if limit is None else min(page_size, limit - yielded)
            if take <= 0:
                return
            page: Page[Any] = await self._invoke(
                action_name,
                {**params, "skip": skip, "take": take},
                Page[row_type],
                timeout=timeout,
                retries=retries,
            )
            if page.data and page.data == previous:
                # A server that ignores `skip` answers the first page forever: without
                # this check the loop would never end (or repeat rows up to `total`).
                raise DaktelaDecodeError(
                    f"{action_name}: the page at skip={skip} repeats the previous page; "
                    "the server seems to ignore 'skip', so paging stops",
                    action=action_name,
                )
            previous = tuple(page.data)
            for row in page.data:
                yield row
            yielded += len(page.data)
            skip += len(page.data)
            # Stop on the last page: fewer rows than asked, or everything the server counted.
            if len(page.data) < take or (page.total is not None and skip >= page.total):
                return


def action(
    name: str,
) -> Callable[
    [Callable[Concatenate[NS, P], Awaitable[R]]], Callable[Concatenate[NS, P], Awaitable[R]]
]:
    """Mark a method as the implementation of action *name*.

    Python's own argument binding reports unknown and missing keyword arguments; this turns
    those ``TypeError`` s into :class:`DaktelaUsageError` naming the action and the
    parameter, still before anything is sent.
    """

    def decorate(
        fn: Callable[Concatenate[NS, P], Awaitable[R]],
    ) -> Callable[Concatenate[NS, P], Awaitable[R]]:
        @functools.wraps(fn)
        async def wrapper(self: NS, /, *args: P.args, **kwargs: P.kwargs) -> R:
            try:
                coro = fn(self, *args, **kwargs)
            except TypeError as exc:
                raise _binding_error(name, fn, exc) from None
            return await coro

        wrapper.__daktela_action__ = name  # type: ignore[attr-defined]
        return wrapper

    return decorate


def paged(
    name: str,
) -> Callable[
    [Callable[Concatenate[NS, P], AsyncIterator[R]]], Callable[Concatenate[NS, P], AsyncIterator[R]]
]:
    """Like :func:`action`, for the ``iter_*`` methods that return an async iterator."""

    def decorate(
        fn: Callable[Concatenate[NS, P], AsyncIterator[R]],
    ) -> Callable[Concatenate[NS, P], AsyncIterator[R]]:
        @functools.wraps(fn)
        def wrapper(self: NS, /, *args: P.args, **kwargs: P.kwargs) -> AsyncIterator[R]:
            try:
                return fn(self, *args, **kwargs)
            except TypeError as exc:
                raise _binding_error(name, fn, exc) from None

        wrapper.__daktela_action__ = name  # type: ignore[attr-defined]
        return wrapper

    return decorate


def _binding_error(name: str, fn: Callable[..., Any], exc: TypeError) -> DaktelaUsageError:
    text = str(exc)
    match = _ARG_NAME.search(text)
    parameter = match.group(1) if match else None
    if "unexpected keyword" in text and parameter is not None:
        code = fn.__code__
        known = list(code.co_varnames[1 : code.co_argcount + code.co_kwonlyargcount])
        close = difflib.get_close_matches(parameter, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        message = f"{name}: unknown parameter {parameter!r}{hint}"
    elif "missing" in text and parameter is not None:
        message = f"{name}: missing mandatory parameter {parameter!r}"
    else:
        message = f"{name}: {text}"
    return DaktelaUsageError(message, action=name, parameter=parameter)


# --- value validation -------------------------------------------------------------------------

_SCALARS = (str, int, float, enum.Enum)


def _fail(spec: ActionSpec, name: str, problem: str) -> DaktelaUsageError:
    return DaktelaUsageError(
        f"{spec.name}: parameter {name!r} {problem}", action=spec.name, parameter=name
    )


def _check_choice(spec: ActionSpec, name: str, value: object, choices: Sequence[str]) -> None:
    text = value.value if isinstance(value, enum.Enum) else value
    if str(text) not in choices:
        raise _fail(spec, name, f"must be one of {', '.join(map(repr, choices))}, not {text!r}")


def _check_value(spec: ActionSpec, name: str, value: object) -> object:
    """Check one value against the catalogue and return what to encode."""
    param = spec.param(name)
    if param is None:
        # Not in the catalogue: the method's signature accepted it, so send it as given.
        return value
    kind = param.type
    if kind == "list":
        items: Sequence[object]
        if isinstance(value, str | int):
            items = [value]  # a single value is a one-element array
        elif isinstance(value, Sequence):
            items = value
        else:
            raise _fail(spec, name, f"must be a list, not {type(value).__name__}")
        for item in items:
            if not isinstance(item, _SCALARS) or isinstance(item, bool):
                raise _fail(spec, name, f"items must be strings or numbers, not {item!r}")
            if param.choices:
                _check_choice(spec, name, item, param.choices)
        return list(items)
    if kind == "dict":
        if not isinstance(value, Mapping):
            raise _fail(spec, name, f"must be a mapping, not {type(value).__name__}")
        return value
    if kind == "bool":
        if isinstance(value, bool):
            return format_bool(value, param.bool_format)
        if not isinstance(value, str):
            raise _fail(spec, name, f"must be a bool or a str, not {type(value).__name__}")
        return value
    if kind in ("datetime", "date"):
        if not isinstance(value, dt.date | str):
            raise _fail(
                spec, name, f"must be a datetime, a date or a str, not {type(value).__name__}"
            )
        if kind == "datetime" and type(value) is dt.date:
            return dt.datetime.combine(value, dt.time())
        return value
    if not isinstance(value, _SCALARS) or (isinstance(value, bool) and kind != "str"):
        raise _fail(spec, name, f"must be a {kind} or a str, not {type(value).__name__}")
    if param.choices:
        _check_choice(spec, name, value, param.choices)
    if kind == "int" and (param.minimum is not None or param.maximum is not None):
        number = _as_int(value)
        if number is None:
            raise _fail(spec, name, f"must be an integer, not {value!r}")
        if param.minimum is not None and number < param.minimum:
            raise _fail(
                spec, name, f"must be between {param.minimum} and {param.maximum}, not {number}"
            )
        if param.maximum is not None and number > param.maximum:
            raise _fail(
                spec, name, f"must be between {param.minimum} and {param.maximum}, not {number}"
            )
    return value


def _as_int(value: object) -> int | None:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    return None


def prepare_params(spec: ActionSpec, params: Mapping[str, object]) -> dict[str, object]:
    """Validate keyword arguments against *spec* and return the query parameters to send.

    Raises:
        DaktelaUsageError: A mandatory parameter or one-of group is missing, a group has more
            than one member, or a value is outside its documented type, choices or range.
    """
    given = {k: v for k, v in params.items() if v is not None}
    check_presence(spec, given)
    return {name: _check_value(spec, name, value) for name, value in given.items()}

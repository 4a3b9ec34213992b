"""The hook protocol itself: reading a hook's parameters and writing the PBX's answer.

These are pure functions with no HTTP in them: :func:`parse_hook` turns the ``(name,
value)`` pairs of one request into its event, and :func:`flatten_answer` turns a
lookup's answer into the flat object of strings that ``notify_crm_api.agi`` reads into
``HASH(CRMAPI, KEY)``. They live apart from the ASGI application (``_app``) so that
the wire format can be read, tested and reused (by a receiver on another framework, say)
without Starlette, and so that the application's module holds only request handling:
access checks, the time budget, publishing and logging.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from typing import Final

from .._errors import DaktelaUsageError
from ._events import CallHungUp, IncomingCall, LineAnswered, LineRinging, WebhookEvent

__all__ = ["SECRET_PARAM", "flatten_answer", "parse_hook"]

#: The AGI script can only send a URL, so the secret travels as this query parameter.
SECRET_PARAM: Final = "secret"  # noqa: S105 - a parameter name, not a password
#: Nested lookup answers deeper than this are a mistake (or a cycle), not CRM data.
_MAX_DEPTH: Final = 16

_INCOMING: Final = ("callid", "dnd")
_LINE: Final = ("callerId", "calleeId", "line", "idcall", "action")
_ACTIONS: Final[dict[str, type[LineRinging | LineAnswered | CallHungUp]]] = {
    "ringing": LineRinging,
    "answer": LineAnswered,
    "hangup": CallHungUp,
}
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")


def _short(value: str, limit: int = 40) -> str:
    """*value* quoted and cut to *limit* characters, for an error message about it.

    The value is the caller's to choose: a long one must not blow up the error (or the
    log line that repeats it).
    """
    return repr(value if len(value) <= limit else value[:limit] + "...")


def parse_hook(
    params: Iterable[tuple[str, str]], *, secret_param: str = SECRET_PARAM
) -> WebhookEvent:
    """Turn a hook's parameters (query and form, in order) into its event.

    The hook is told apart by its parameters: ``callid`` and ``dnd`` make an
    :class:`~daktela_async.webhooks.IncomingCall`; ``action`` (``ringing``, ``answer``
    or ``hangup``) with ``callerId``, ``calleeId``, ``line`` and ``idcall`` makes a
    :class:`~daktela_async.webhooks.LineRinging`,
    :class:`~daktela_async.webhooks.LineAnswered` or
    :class:`~daktela_async.webhooks.CallHungUp`. Names are case-sensitive, as in the
    API document.

    Every documented parameter must be present, but its value may be empty (anonymous
    callers have no number; ``${FROM_DID}`` is empty on internal calls), except
    ``idcall``, the call's identity, and ``action``. Other parameters are kept in the
    event's ``extra`` (the last value wins when one is repeated); *secret_param* is
    dropped.

    Args:
        params: ``(name, value)`` pairs, as ``parse_qsl(..., keep_blank_values=True)``
            gives them.
        secret_param: The shared secret's parameter name, never kept in ``extra``.

    Returns:
        The event, not yet stamped (``seq=0``).

    Raises:
        DaktelaUsageError: The parameters are not one of the four hooks: none of the
            hook parameters, both kinds mixed, a documented parameter missing or given
            twice, an unknown ``action``, or an empty ``idcall``. ``.parameter`` names
            the first parameter at fault.
    """
    known: dict[str, str] = {}
    extra: dict[str, str] = {}
    for name, value in params:
        if name == secret_param:
            continue
        if name in _INCOMING or name in _LINE:
            if name in known:
                raise DaktelaUsageError(f"parameter {name!r} given more than once", parameter=name)
            known[name] = value
        else:
            extra[name] = value
    incoming = [name for name in _INCOMING if name in known]
    line = [name for name in _LINE if name in known]
    if incoming and line:
        raise DaktelaUsageError(
            "parameters of the incoming hook (callid, dnd) and of the line hooks "
            "(callerId, calleeId, line, idcall, action) are mixed",
            parameter=incoming[0],
        )
    if incoming:
        missing = [name for name in _INCOMING if name not in known]
        if missing:
            raise DaktelaUsageError(f"missing parameter {missing[0]!r}", parameter=missing[0])
        return IncomingCall(caller=known["callid"], did=known["dnd"], extra=extra)
    if not line:
        raise DaktelaUsageError(
            "not a Daktela hook: expected callid and dnd (incoming call), or callerId, "
            "calleeId, line, idcall and action (line hooks)"
        )
    if "action" not in known:
        raise DaktelaUsageError("missing parameter 'action'", parameter="action")
    cls = _ACTIONS.get(known["action"])
    if cls is None:
        raise DaktelaUsageError(
            f"action must be ringing, answer or hangup, not {_short(known['action'])}",
            parameter="action",
        )
    missing = [name for name in _LINE if name not in known]
    if missing:
        names = ", ".join(missing)
        plural = "s" if len(missing) > 1 else ""
        raise DaktelaUsageError(f"missing parameter{plural} {names}", parameter=missing[0])
    if not known["idcall"]:
        raise DaktelaUsageError("parameter 'idcall' must not be empty", parameter="idcall")
    return cls(
        call_id=known["idcall"],
        line=known["line"],
        caller=known["callerId"],
        callee=known["calleeId"],
        extra=extra,
    )


def _clean(text: str) -> str:
    # The AGI script passes every value to Asterisk over the line-based AGI protocol;
    # a newline from CRM data must not end (or inject) a command.
    return _CONTROL.sub(" ", text)


def _scalar(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, enum.Enum):
        return _scalar(value.value)
    if isinstance(value, str):
        return _clean(value)
    if isinstance(value, bytes | bytearray):
        return _clean(bytes(value).decode("utf-8", "replace"))
    return _clean(str(value))


def _flatten_into(flat: dict[str, str], prefix: str, value: object, depth: int) -> None:
    if isinstance(value, Mapping | list | tuple):
        if depth > _MAX_DEPTH:
            raise DaktelaUsageError(f"the answer is nested deeper than {_MAX_DEPTH} levels")
        items = value.items() if isinstance(value, Mapping) else enumerate(value)
        empty = True
        for key, item in items:
            empty = False
            name = _scalar(key)
            _flatten_into(flat, f"{prefix}.{name}" if prefix else name, item, depth + 1)
        if empty and prefix:
            flat[prefix] = ""
    else:
        flat[prefix] = _scalar(value)


def flatten_answer(answer: Mapping[str, object]) -> dict[str, str]:
    """Flatten a lookup's answer into the flat object of strings the PBX reads.

    The PBX stores each top-level key as ``${HASH(CRMAPI,KEY)}``, so every value
    becomes a string:

    - a string stays as it is; ``None`` becomes ``""``;
    - ``True``/``False`` become ``"1"``/``"0"`` (dialplan conditions treat ``"0"`` and
      ``""`` as false, but ``"false"`` as true);
    - an enum member becomes its value; bytes are decoded as UTF-8; anything else
      (numbers, dates, decimals) becomes ``str(value)``;
    - a nested mapping or list becomes dotted keys: ``{"CONTACT": {"NAME": "Jan"}}``
      gives ``CONTACT.NAME``, ``{"PHONES": ["1", "2"]}`` gives ``PHONES.0`` and
      ``PHONES.1``; an empty one gives its key with ``""``. When two paths flatten to
      the same key, the later one wins.

    Control characters (newlines, tabs, NUL...) in keys and values become spaces: the
    values travel on to Asterisk over the line-based AGI protocol.

    Args:
        answer: What the lookup returned.

    Returns:
        A new flat ``dict[str, str]``.

    Raises:
        DaktelaUsageError: The answer is nested deeper than 16 levels (or contains
            itself); a ``ValueError`` too.
    """
    flat: dict[str, str] = {}
    _flatten_into(flat, "", answer, 0)
    return flat

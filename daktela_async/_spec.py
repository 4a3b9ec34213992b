"""The shape of the action catalogue: what the API document says about one action.

Every action of the legacy API is described once, as data, by an :class:`ActionSpec`
in :mod:`daktela_async._actions`. The transport reads it for the retry policy and the
URL version; the endpoint namespaces read it to validate keyword arguments before any
request is sent; the docs generator reads it for the action table.
"""

from __future__ import annotations

from typing import Literal

import attrs

#: How a parameter is typed and encoded; every value is checked before anything is
#: sent (:func:`daktela_async._transport._request.check_params`).
#:
#: - ``str``: one value, sent as given.
#: - ``int`` / ``float``: a number, or its decimal text (sent untouched); never a bool.
#: - ``bool``: ``True``/``False`` are sent as ``"true"``/``"false"`` unless the
#:   parameter's ``bool_format`` says otherwise (the document uses ``yes`` for some);
#:   text must be that spelling.
#: - ``datetime`` / ``date``: ``YYYY-MM-DD HH:MM:SS`` / ``YYYY-MM-DD``, from a
#:   :mod:`datetime` object or text in exactly that form.
#: - ``list``: a PHP array, ``x[]=a&x[]=b``.
#: - ``dict``: a PHP keyed array, ``x[k]=v`` (nested dicts nest).
ParamType = Literal["str", "int", "float", "bool", "datetime", "date", "list", "dict"]

#: Where an action's ``id`` goes: not used, the URL path segment, or the query.
IdPlacement = Literal["none", "path", "query"]


@attrs.frozen(slots=True)
class ParamSpec:
    """One documented parameter of an action.

    Attributes:
        name: The parameter name exactly as the server reads it (``datetime_from``).
        type: How values are checked and encoded, see :data:`ParamType`.
        doc: One line from the document describing it.
        choices: For enumerations, the accepted values (``("in", "out")``).
        minimum: Lowest accepted integer (priority ``0``).
        maximum: Highest accepted integer (priority ``2``).
        since: The API version that introduced this parameter when it is newer than
            the action itself (``hash`` of ``RTUserState`` is ``"4.0"``); a request
            that uses it is sent with at least this version in the URL.
        until: The last API version whose form of the action takes this parameter, when
            a newer form dropped it (``extension`` of ``CreateCall`` is ``"3.0"``: the
            3.1 call-centre form takes ``user`` instead).
        bool_format: How ``True``/``False`` are written: ``"truefalse"``,
            ``"yesno"`` or ``"10"``.
        documented: ``False`` for parameters that the document's examples use but
            its parameter list omits (kept so those requests validate).
    """

    name: str
    type: ParamType = "str"
    doc: str = ""
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    since: str | None = None
    until: str | None = None
    bool_format: Literal["truefalse", "yesno", "10"] = "truefalse"
    documented: bool = True


@attrs.frozen(slots=True)
class ActionSpec:
    """One action of the API, merged over all the sections that list it.

    Attributes:
        name: The action as it appears in the URL (``RTStatsQueuesSummary``).
        version: The lowest "Requirement version" of any of its documented forms.
        sections: The document's sections that list it (``("Operators", "Calls")``).
        summary: The first line of its description.
        params: Every parameter of every documented form of the action.
        required: Parameters that must always be given.
        one_of: Groups of which exactly one member must be given
            (``(("user", "extension"),)``).
        idempotent: ``True`` for reads that may be retried after the request may
            have reached the server; ``False`` (the default) for actions that change
            state. Unknown means "do not retry": a new action is a write until it is
            marked a read, so forgetting the flag can never ring a customer twice.
        id: Where the record id goes (:data:`IdPlacement`).
        id_required: Whether the id must be given (``DeleteUser``).
        long_poll: ``True`` when the server may hold the request (``RTUserState``
            with ``hash``): the client then uses the long-poll timeouts.
        binary: ``True`` when the answer is not the JSON envelope (``GetRecording``).
        forms: Versions of further documented forms whose parameters are the same but
            whose answer differs (``GetPauses`` 3.3); the newest one the client allows is
            used.
    """

    name: str
    version: str
    sections: tuple[str, ...]
    summary: str = ""
    params: tuple[ParamSpec, ...] = ()
    required: tuple[str, ...] = ()
    one_of: tuple[tuple[str, ...], ...] = ()
    idempotent: bool = False
    id: IdPlacement = "none"
    id_required: bool = False
    long_poll: bool = False
    binary: bool = False
    forms: tuple[str, ...] = ()

    def param(self, name: str) -> ParamSpec | None:
        """Return the parameter called *name*, or ``None`` when it is not documented."""
        for p in self.params:
            if p.name == name:
                return p
        return None

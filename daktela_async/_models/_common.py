"""Shapes shared by several sections: the paged list answer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Generic, TypeVar

import attrs

from ._scalars import EMPTY

__all__ = ["Page"]

T = TypeVar("T")


@attrs.frozen(slots=True, kw_only=True)
class Page(Generic[T]):
    """One page of a paged list: ``{"data": [...], "total": "2"}``.

    Used by the 4.1 list actions that take ``skip``/``take`` (``GetAttempts``,
    ``StatsCalls``, ``GetRecords``...) and by ``GetExtensionUsers``.

    Attributes:
        data: The rows of this page, in the server's order.
        total: How many rows match in all pages (sent as a string or a number);
            ``None`` when the answer has no count (``GetExtensionUsers``).
        extra: Every key the server sent that this model does not know.
    """

    data: tuple[T, ...] = ()
    total: int | None = None
    extra: Mapping[str, Any] = EMPTY

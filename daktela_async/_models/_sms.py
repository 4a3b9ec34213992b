"""SMS through the hosting gateway (``*SMS``) and SMS Connect (``*SMSConnect``)."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from typing import Any

import attrs

from ._scalars import EMPTY

__all__ = [
    "GroupSMSRemoved",
    "GroupSMSStatus",
    "SMSConnectMessage",
    "SMSConnectResult",
    "SMSMessage",
    "SMSSettings",
    "SMSSettingsInfo",
    "SMSStatus",
    "SentSMS",
]


@attrs.frozen(slots=True, kw_only=True)
class SMSMessage:
    """One message of the hosting gateway (``GetSMS``).

    Attributes:
        id: Message ID.
        billing_id: Billing account ID.
        direction: ``in`` or ``out``.
        datetime: When the message was created.
        datetime_processed: When it was sent or received.
        number: The other party's MSISDN.
        attempts: Send attempts.
        count_sms: How many SMS the message took.
        from_client: Sending client.
        message: The text.
        result: ``ok``, ``error``...
        code_error: Hex error code when ``result`` is ``error`` (documented, not
            always sent).
        confirmation_enable: Whether a delivery report was requested.
        confirmed: Whether delivery was confirmed.
        price: Price.
        gw_number: Gateway number.
        slot_number: Slot number.
        port_number: Port number.
        accountcode: The caller's message identification.
        email: The e-mail given with the message.
        extra: Every key the server sent that this model does not know.
    """

    id: int
    billing_id: int | None = None
    direction: str | None = None
    datetime: dt.datetime | None = None
    datetime_processed: dt.datetime | None = None
    number: str | None = None
    attempts: int | None = None
    count_sms: int | None = None
    from_client: str | None = None
    message: str | None = None
    result: str | None = None
    code_error: str | None = None
    confirmation_enable: bool | None = None
    confirmed: bool | None = None
    price: float | None = None
    gw_number: int | None = None
    slot_number: int | None = None
    port_number: int | None = None
    accountcode: str | None = None
    email: str | None = None
    extra: Mapping[str, Any] = EMPTY


@attrs.frozen(slots=True, kw_only=True)
class SMSSettings:
    """The SMS settings of the account (``settings`` of ``GetSMSSettings``).

    Attributes:
        billing_id: Billing account ID.
        enabled_sms: Which SMS service is enabled (``"CONNECT"``).
        outgoing_price: Price of one outgoing SMS.
        incoming_callback: URL called for each incoming SMS.
        outgoing_callback: URL called for each outgoing SMS and delivery report.
        incoming_email: E-mail notified of each incoming SMS.
        outgoing_email: E-mail notified of each outgoing SMS.
        email_notification_allow: Which notifications are e-mailed
            (``"in,out,confirmed"``).
        sending_rate_limit: Messages allowed per :attr:`sending_rate_time` (0: off).
        sending_rate_time: The rate window in seconds (0: off).
        allowed_hour_begin: First hour messages are sent (0: off).
        allowed_hour_end: Last hour messages are sent (0: off).
        sending_rate_limit_admin: The administrator's rate limit.
        sending_rate_time_admin: The administrator's rate window in seconds.
        lang: Language (``"cs_CZ"``).
        connect_sender: Sender identification of SMS Connect.
        extra: Every key the server sent that this model does not know.
    """

    billing_id: int | None = None
    enabled_sms: str | None = None
    outgoing_price: float | None = None
    incoming_callback: str | None = None
    outgoing_callback: str | None = None
    incoming_email: str | None = None
    outgoing_email: str | None = None
    email_notification_allow: str | None = None
    sending_rate_limit: int | None = None
    sending_rate_time: int | None = None
    allowed_hour_begin: int | None = None
    allowed_hour_end: int | None = None
    sending_rate_limit_admin: int | None = None
    sending_rate_time_admin: int | None = None
    lang: str | None = None
    connect_sender: str | None = None
    extra: Mapping[str, Any] = EMPTY


@attrs.frozen(slots=True, kw_only=True)
class SMSSettingsInfo:
    """The answer of ``GetSMSSettings``.

    Attributes:
        settings: The account's settings.
        sim: The SIM cards of the gateway, as sent (the document shows only ``[]``).
        extra: Every key the server sent that this model does not know.
    """

    settings: SMSSettings | None = None
    sim: tuple[Any, ...] = ()
    extra: Mapping[str, Any] = EMPTY


@attrs.frozen(slots=True, kw_only=True)
class SentSMS:
    """A message accepted for sending (``SendSMS``, ``SendSMSConnect``, ``SendGroupSMS*``).

    Attributes:
        id: Message ID.
        count_sms: How many SMS it takes (0 when nothing was sent; not sent by
            ``SendSMSConnect``).
        group_id: ID of the group (``SendGroupSMS``), for ``StatusGroupSMS`` and
            ``RemoveGroupSMS``.
        extra: Every key the server sent that this model does not know.
    """

    id: int
    count_sms: int | None = None
    group_id: int | None = None
    extra: Mapping[str, Any] = EMPTY


@attrs.frozen(slots=True, kw_only=True)
class GroupSMSRemoved:
    """The answer of ``RemoveGroupSMS``.

    Attributes:
        count_removed: How many waiting messages were cancelled.
        extra: Every key the server sent that this model does not know.
    """

    count_removed: int | None = None
    extra: Mapping[str, Any] = EMPTY


@attrs.frozen(slots=True, kw_only=True)
class GroupSMSStatus:
    """Counts of one group of messages (values of ``StatusGroupSMS``).

    Attributes:
        group_id: Group ID.
        accountcode: The caller's identification, if set when sending.
        datetime_processed: When the last message was processed.
        datetime: When the group was created.
        count_total: Messages in the group.
        count_ok: Sent ones.
        count_waiting: Waiting ones.
        count_error: Failed ones.
        extra: Every key the server sent that this model does not know.
    """

    group_id: int
    accountcode: str | None = None
    datetime_processed: dt.datetime | None = None
    datetime: dt.datetime | None = None
    count_total: int | None = None
    count_ok: int | None = None
    count_waiting: int | None = None
    count_error: int | None = None
    extra: Mapping[str, Any] = EMPTY


@attrs.frozen(slots=True, kw_only=True)
class SMSStatus:
    """The send queue (``StatusSMS``, ``StatusSMSConnect``).

    Attributes:
        count_waiting: Messages waiting to be sent.
        last_datetime_processed: When the last message was sent (``StatusSMS`` only).
        extra: Every key the server sent that this model does not know.
    """

    count_waiting: int | None = None
    last_datetime_processed: dt.datetime | None = None
    extra: Mapping[str, Any] = EMPTY


class SMSConnectResult(enum.StrEnum):
    """The documented results of an SMS Connect message (``GetSMSConnect``)."""

    NEW = "NEW"
    SENT = "SENT"
    DELIVERED = "DELIVERED"
    NOTDELIVERED = "NOTDELIVERED"
    EXPIRED = "EXPIRED"
    ERROR = "ERROR"
    FORBIDDEN = "FORBIDDEN"


@attrs.frozen(slots=True, kw_only=True)
class SMSConnectMessage:
    """One SMS Connect message (values of ``GetSMSConnect``).

    Attributes:
        id: Message ID.
        message_id: The operator's message ID.
        billing_id: Billing account ID.
        direction: ``OUT`` or ``IN``.
        result: An :class:`SMSConnectResult`, or the server's text when undocumented.
        datetime: When the message was created.
        datetime_sent: When it was sent.
        datetime_delivered: When delivery was confirmed.
        datetime_notdelivered: When non-delivery was reported (documented, not
            always sent).
        datetime_billed: When it was billed.
        sender: Sender identification.
        recipient: Recipient number.
        price: Price.
        message: The text.
        sms_encoding: ``UTF8`` or ``ASCII``.
        count_sms: How many SMS it took.
        request_dlr: Whether a delivery report was requested.
        attempts: Send attempts.
        group_id: Group ID, for group messages.
        extra: Every key the server sent that this model does not know.
    """

    id: int
    message_id: str | None = None
    billing_id: int | None = None
    direction: str | None = None
    result: SMSConnectResult | str | None = None
    datetime: dt.datetime | None = None
    datetime_sent: dt.datetime | None = None
    datetime_delivered: dt.datetime | None = None
    datetime_notdelivered: dt.datetime | None = None
    datetime_billed: dt.datetime | None = None
    sender: str | None = None
    recipient: str | None = None
    price: float | None = None
    message: str | None = None
    sms_encoding: str | None = None
    count_sms: int | None = None
    request_dlr: bool | None = None
    attempts: int | None = None
    group_id: int | None = None
    extra: Mapping[str, Any] = EMPTY

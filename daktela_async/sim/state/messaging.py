"""SMS: the gateway (``SendSMS``), groups and SMS Connect."""

from __future__ import annotations

import math

from .._model import Sms, SmsConnect, SmsGroup
from .errors import ERR_MESSAGE_TOO_LONG, SimError
from .lookups import StateLookups

__all__ = ["MessagingMixin"]


class MessagingMixin(StateLookups):
    """The messaging transitions of :class:`~.SimState`."""

    @staticmethod
    def sms_parts(message: str, unicode: bool) -> int:
        """How many SMS a message takes (160/70 characters, 153/67 per concatenated part)."""
        single, multi = (70, 67) if unicode else (160, 153)
        if len(message) <= single:
            return 1
        return math.ceil(len(message) / multi)

    def send_sms(
        self,
        number: str,
        message: str,
        *,
        confirmation: bool,
        unicode: bool,
        email: str | None,
        accountcode: str | None,
        gw: str | None,
        slot: str | None,
        port: str | None,
        priority: int,
        scheduled: float | None,
        group: SmsGroup | None = None,
    ) -> Sms:
        """``SendSMS``: queue an SMS; it is processed a moment later (status ok/error)."""
        if len(message) > 1377:
            raise SimError(ERR_MESSAGE_TOO_LONG)
        sms = Sms(
            next(self._sms_ids),
            "out",
            self.now(),
            number,
            message,
            self.sms_parts(message, unicode),
            confirmation,
            accountcode,
            email,
            gw or "1",
            slot or "1",
            port or str(1 + len(self.sms) % 4),
            priority,
            scheduled=scheduled,
        )
        if group is not None:
            sms.group_id = group.id
            group.message_ids.append(sms.id)
        self.sms[sms.id] = sms
        self._schedule_sms(sms)
        return sms

    def _sending_delay(self, not_before: float | None) -> float:
        now = self.now()
        due = max(now, not_before or now) + 2.0
        begin = int(self.sms_settings.get("allowed_hour_begin") or 0)
        end = int(self.sms_settings.get("allowed_hour_end") or 0)
        if begin or end:
            hour = int(due // 3600 % 24)
            if not begin <= hour <= end:
                day = due - due % 86400
                start = day + begin * 3600
                due = start if start > due else start + 86400
        return due - now

    def _schedule_sms(self, sms: Sms) -> None:
        def process() -> None:
            if sms.result != "waiting":
                return
            sms.attempts += 1
            sms.processed = self.now()
            digits = sms.number.lstrip("+")
            sms.result = "ok" if digits.isdigit() and len(digits) >= 9 else "error"
            if sms.result == "ok":
                sms.price = f"{1.5 * sms.count_sms:.3f}"
                if sms.confirmation:

                    def confirm() -> None:
                        sms.confirmed = "1"

                    self.schedule(5.0, confirm)
            self.emit("sms", sms)

        self.schedule(self._sending_delay(sms.scheduled), process)

    def new_sms_group(self, accountcode: str | None, *, connect: bool = False) -> SmsGroup:
        """Open a group for ``SendGroupSMS``."""
        group = SmsGroup(next(self._sms_ids), self.now(), accountcode, connect=connect)
        self.sms_groups[group.id] = group
        return group

    def remove_group_sms(self, group_id: int) -> int:
        """``RemoveGroupSMS``: cancel the group's waiting messages; returns how many."""
        group = self.sms_groups.get(group_id)
        if group is None:
            return 0
        removed = 0
        for message_id in group.message_ids:
            if group.connect:
                connect = self.sms_connect[message_id]
                if connect.result == "NEW":
                    connect.result = "FORBIDDEN"
                    removed += 1
            elif self.sms[message_id].result == "waiting":
                self.sms[message_id].result = "cancelled"
                removed += 1
        return removed

    def send_sms_connect(
        self,
        recipient: str,
        message: str,
        *,
        confirmation: bool,
        unicode: bool,
        sender: str | None,
        accountcode: str | None,
        scheduled: float | None,
        group: SmsGroup | None = None,
    ) -> SmsConnect:
        """``SendSMSConnect``: NEW, then SENT, then (with a delivery report) DELIVERED."""
        if len(message) > 1377:
            raise SimError(ERR_MESSAGE_TOO_LONG)
        sms_id = next(self._sms_ids)
        sms = SmsConnect(
            sms_id,
            f"{sms_id:015d}Bulk_{sms_id:08x}",
            self.now(),
            recipient,
            message,
            self.sms_parts(message, unicode),
            "UTF8" if unicode else "GSM",
            confirmation,
            sender,
            accountcode=accountcode,
            scheduled=scheduled,
        )
        if group is not None:
            sms.group_id = group.id
            group.message_ids.append(sms.id)
        self.sms_connect[sms.id] = sms

        def sent() -> None:
            if sms.result != "NEW":
                return
            sms.result = "SENT"
            sms.sent = sms.billed = self.now()
            if sms.request_dlr:

                def delivered() -> None:
                    sms.result = "DELIVERED"
                    sms.delivered = self.now()

                self.schedule(5.0, delivered)

        self.schedule(self._sending_delay(scheduled), sent)
        return sms

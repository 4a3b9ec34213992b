"""Activities and emails."""

from __future__ import annotations

import hashlib

from .._model import Activity, Email
from .errors import ERR_ACTIVITY_UNKNOWN, ERR_NOT_EMAIL_QUEUE, SimError
from .lookups import StateLookups

__all__ = ["ActivitiesMixin"]


class ActivitiesMixin(StateLookups):
    """The activities transitions of :class:`~.SimState`."""

    def _new_activity(
        self,
        name: str,
        title: str,
        kind: str,
        queue_id: str,
        item: int | None = None,
        user: str | None = None,
    ) -> Activity:
        activity = Activity(
            next(self._activity_ids),
            len(self.activities) + 1,
            name,
            title,
            kind,
            queue_id,
            self.now(),
            item=item,
            user=user,
        )
        self.activities[name] = activity
        return activity

    def close_activity(self, name: str, status: str) -> Activity:
        """``ActivityClose``: set the status and close the activity."""
        activity = self.activities.get(name)
        if activity is None:
            raise SimError(ERR_ACTIVITY_UNKNOWN)
        found = self.status_by_code(status, self.queues.get(activity.queue_id))
        activity.status = found.id
        activity.action = "CLOSE"
        activity.time_close = self.now()
        return activity

    def update_activities(self, names: list[str], status: str) -> list[Activity]:
        """``ActivityUpdate``: set the status of each activity."""
        activities = []
        for name in names:
            activity = self.activities.get(name)
            if activity is None:
                raise SimError(ERR_ACTIVITY_UNKNOWN)
            activities.append(activity)
        for activity in activities:
            activity.status = self.status_by_code(status, self.queues.get(activity.queue_id)).id
        return activities

    def create_email(
        self,
        queue_number: str,
        subject: str,
        sender: str,
        body: str,
        *,
        user: str | None,
        name: str | None,
    ) -> tuple[Email, Activity]:
        """``EmailCreate``: store the email and open its activity."""
        queue = self.queue(queue_number)
        if queue.type != "email":
            raise SimError(ERR_NOT_EMAIL_QUEUE)
        user_id = self.user(user).id if user else None
        email_id = next(self._email_ids)
        now = self.now()
        email = Email(
            email_id,
            queue.id,
            name
            or "email_"
            + hashlib.sha1(f"{self.seed}:e{email_id}".encode()).hexdigest()[  # noqa: S324
                :13
            ],
            subject,
            sender,
            body,
            now,
            user=user_id,
        )
        self.emails[email_id] = email
        ticket_name = "ticket_" + hashlib.sha1(f"{self.seed}:t{email_id}".encode()).hexdigest()[:13]  # noqa: S324
        activity = self._new_activity(
            ticket_name, subject, "EMAIL", queue.id, item=email_id, user=user_id
        )
        return email, activity

"""Handlers of the Statistics section: CDR, last calls, realtime and period statistics."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from .._clock import fmt, fmt_opt
from .._model import Agent, Call
from .._render import Views, php_array
from ..state import ERR_NOT_LOGGED, SimError, SimState
from ._base import Answer, ApiRequest, _action, _bad, _missing, _paged, _within


@_action("CDR")
def cdr(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Call detail records in a time range, with prices and filters."""
    span = req.span()
    extens, codes = set(req.list("real_extens")), set(req.list("accountcodes"))
    destinations = set(req.list("destinations"))
    src_channels, dst_channels = req.list("src_channels"), req.list("dst_channels")
    direction, disposition = req.get("direction"), req.get("disposition")
    min_price = req.get("min_price_call")
    try:
        floor = float(min_price) if min_price else None
    except ValueError:
        raise _bad("min_price_call") from None
    rows = []
    for leg in state.legs:
        if not _within(leg.start, span):
            continue
        if extens and leg.real_exten not in extens:
            continue
        if codes and leg.accountcode not in codes:
            continue
        if direction and leg.direction != direction:
            continue
        if disposition and leg.disposition != disposition:
            continue
        if src_channels and not any(leg.channel.startswith(c) for c in src_channels):
            continue
        if dst_channels and not any(leg.dstchannel.startswith(c) for c in dst_channels):
            continue
        row = views.cdr_row(leg)
        if destinations and row["destination_type"] not in destinations:
            continue
        if floor is not None and float(row["price"]) <= floor:
            continue
        rows.append(row)
    return Answer(rows)


@_action("LastCallNumber")
def last_call_number(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """The last call-centre call with a number: agent, queue and timings."""
    number = req.need("phonenumber")
    since = state.now() - req.integer("interval", 86400)
    answered = req.tri("answered")
    queue_ids = set(req.list("queues"))
    for queue_number in req.list("queues_number"):
        queue = state.queues_by_number.get(queue_number)
        if queue is not None:
            queue_ids.add(queue.id)
    for row in reversed(state.queue_calls):
        if row.clid != number or row.call_time < since:
            continue
        if answered is not None and row.answered != answered:
            continue
        if queue_ids and row.queue_id not in queue_ids:
            continue
        queue = state.queues.get(row.queue_id or "")
        user = state.users.get(row.user_id or "")
        return Answer(
            {
                "call": row.call_id,
                "call_time": fmt(row.call_time),
                "direction": row.direction,
                "queue": row.queue_id,
                "user": row.user_id,
                "answered": row.answered,
                "clid": row.clid,
                "waiting_time": row.waiting_time,
                "ringing_time": row.ringing_time,
                "hold_time": row.hold_time,
                "duration": row.duration,
                "disposition": "user"
                if row.disposition_cause == "agent"
                else row.disposition_cause,
                "orig_posision": row.position,
                "attempts": 0,
                "queue_title": queue.title if queue else None,
                "queue_number": queue.number if queue else None,
                "queue_direction": queue.direction if queue else None,
                "user_title": user.title if user else None,
                "user_login": user.name if user else None,
            }
        )
    return Answer(None)


@_action("LastCall")
def last_call(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """The current call of an extension/user, else its last completed one."""
    if req.get("user"):
        agent = state.agent(req.need("user"))
        live = state.live_calls_of(agent)
        extension = agent.exten
        user_id: str | None = agent.user_id
    else:
        extension = req.get("extension")
        if not extension:
            raise _missing("extension")
        live = state.calls_at(extension)
        user_id = None
    call: Call | None = live[-1] if live else None
    realtime = call is not None
    if call is None:
        for leg in reversed(state.legs):
            if (user_id is not None and leg.id_agent == user_id) or (
                user_id is None and leg.real_exten == extension
            ):
                call = state.ended_calls.get(leg.call_id)
                break
    if call is None:
        return Answer(None)
    return Answer(
        {
            "exten": call.exten or extension,
            "user": call.agent_id or call.first_agent_id,
            "queue": call.queue_id,
            "id_call": call.id,
            "direction": call.direction,
            "clid": call.number,
            "time": fmt(call.entered),
            "_is_realtime": realtime,
        }
    )


@_action("RTQueuePresence")
def rt_queue_presence(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Whether any operator is logged into a queue."""
    queue = state.queue(req.need("queue"))
    count = sum(1 for _, a in state.iter_agents() if a.logged and queue.id in a.queues)
    return Answer({"count_users": count, "online_presence": count > 0})


@_action("RTStatsCalls")
def rt_stats_calls(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Ongoing call-centre calls keyed by call id."""
    now = state.now()
    out: dict[str, Any] = {}
    for call in state.calls.values():
        if call.kind != "queue":
            continue
        answered_at = call.leg_answered
        out[call.id] = {
            "id": call.id,
            "queue": call.queue_id,
            "agent": call.agent_id if answered_at is not None else None,
            "users": [call.agent_id] if call.agent_id else [],
            "clid": call.number,
            "direction": call.direction,
            "state": call.state,
            "enter_time_absolute": fmt(call.entered),
            "enter_time_relative": str(int(now - call.entered)),
            "wait_time_absolute": fmt(call.entered),
            "wait_time_relative": str(int((call.ringed or now) - call.entered)),
            "ring_time_absolute": fmt_opt(call.ringed),
            "ring_time_relative": str(int((answered_at or now) - call.ringed))
            if call.ringed is not None
            else "0",
            "answer_time_absolute": fmt_opt(answered_at),
            "answer_time_relative": str(int(now - answered_at)) if answered_at else "0",
            "hold_time_absolute": fmt_opt(call.onhold),
            "hold_time_relative": str(
                int(call.hold_total + (now - call.onhold if call.onhold else 0))
            ),
        }
    return Answer(php_array(out))


@_action("RTStatsPauses")
def rt_stats_pauses(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Pauses in use, with the agents on them."""
    users: dict[str, list[str]] = {}
    for user, agent in state.iter_agents():
        if agent.logged and agent.pause_id is not None:
            users.setdefault(agent.pause_id, []).append(user.id)
    return Answer(
        php_array(
            {
                pause_id: {"id": pause_id, "count": str(len(ids)), "users": ids}
                for pause_id, ids in sorted(users.items(), key=lambda kv: int(kv[0]))
            }
        )
    )


def _queue_counts(
    state: SimState,
    agents: Iterable[Agent],
    queue_ids: set[str] | None,
) -> dict[str, dict[str, Any]]:
    """Per queue id: agent counts by state and call counts (RTStatsQueues*)."""
    now = state.now()
    stats: dict[str, dict[str, Any]] = {}

    def entry(queue_id: str) -> dict[str, Any]:
        return stats.setdefault(
            queue_id,
            {
                "id": queue_id,
                "users_total": 0,
                "users_ready": 0,
                "users_busy": 0,
                "users_pause": 0,
                "calls_count": 0,
                "calls_in": 0,
                "calls_out": 0,
                "calls_wait": 0,
                "calls_time": 0,
            },
        )

    for agent in agents:
        shown = state.agent_state(agent)
        for queue_id in agent.queues:
            if queue_ids is not None and queue_id not in queue_ids:
                continue
            row = entry(queue_id)
            row["users_total"] += 1
            if shown == "Idle":
                row["users_ready"] += 1
            elif shown == "Paused":
                row["users_pause"] += 1
            elif shown in ("Ringing", "Speaking", "On Hold"):
                row["users_busy"] += 1
    for call in state.calls.values():
        if call.queue_id is None or (queue_ids is not None and call.queue_id not in queue_ids):
            continue
        row = entry(call.queue_id)
        row["calls_count"] += 1
        row["calls_in" if call.direction == "in" else "calls_out"] += 1
        if call.state in ("Waiting", "Ringing") and call.answered is None:
            row["calls_wait"] += 1
            row["calls_time"] = max(row["calls_time"], int(now - call.entered))
    return stats


@_action("RTStatsQueuesSummary")
def rt_stats_queues_summary(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Totals over the queues (optionally only some agents and queues)."""
    user_ids, queue_ids = set(req.list("users")), set(req.list("queues"))
    agents = [
        a for _, a in state.iter_agents() if a.logged and (not user_ids or a.user_id in user_ids)
    ]
    per_queue = _queue_counts(state, agents, queue_ids or None)
    total = {
        "users_total": len([a for a in agents if a.queues]),
        "users_ready": 0,
        "users_busy": 0,
        "users_pause": 0,
    }
    for agent in agents:
        if not agent.queues:
            continue
        shown = state.agent_state(agent)
        if shown == "Idle":
            total["users_ready"] += 1
        elif shown == "Paused":
            total["users_pause"] += 1
        elif shown in ("Ringing", "Speaking", "On Hold"):
            total["users_busy"] += 1
    calls = {
        k: sum(row[k] for row in per_queue.values())
        for k in ("calls_count", "calls_in", "calls_out", "calls_wait")
    }
    calls_time = max((row["calls_time"] for row in per_queue.values()), default=0)
    return Answer({**total, **calls, "calls_time": calls_time})


@_action("RTStatsQueues")
def rt_stats_queues(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Per-queue agent and call counts, keyed by queue id."""
    agents = [a for _, a in state.iter_agents() if a.logged]
    per_queue = _queue_counts(state, agents, None)
    out = {}
    for queue_id in sorted(per_queue, key=int):
        row = per_queue[queue_id]
        out[queue_id] = {
            k: row[k]
            for k in (
                "id",
                "users_total",
                "users_ready",
                "users_busy",
                "users_pause",
                "calls_count",
                "calls_wait",
            )
        }
        out[queue_id]["calls_time"] = (
            row["calls_time"] if row["calls_wait"] else (None if row["calls_count"] else 0)
        )
    return Answer(php_array(out))


@_action("RTStatsSessions")
def rt_stats_sessions(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Logged-in agents keyed by id (filter by agents and queues)."""
    now = state.now()
    user_ids, queue_ids = set(req.list("users")), set(req.list("queues"))
    out = {}
    for user, agent in state.iter_agents():
        if not agent.logged or (user_ids and user.id not in user_ids):
            continue
        if queue_ids and not queue_ids & agent.queues.keys():
            continue
        state_time = agent.state_time or now
        login_time = agent.logintime or now
        out[user.id] = {
            "id": user.id,
            "extension": agent.exten,
            "queues": sorted(agent.queues, key=int),
            "state": state.agent_state(agent),
            "pause": agent.pause_id,
            "state_time_absolute": fmt(state_time),
            "state_time_relative": str(int(now - state_time)),
            "login_time_absolute": fmt(login_time),
            "login_time_relative": str(int(now - login_time)),
        }
    return Answer(php_array(out))


def rt_user_state_agent(state: SimState, req: ApiRequest) -> tuple[str, Agent]:
    """The (user id, agent) ``RTUserState`` reports on (by ``user`` or ``extension``)."""
    login = req.get("user")
    if login:
        user = state.user(login)
        return user.id, state.agents[user.id]
    extension = req.get("extension")
    if not extension:
        raise _missing("user")
    agent = state.agent_at(extension)
    if agent is None:
        raise SimError(ERR_NOT_LOGGED)
    return agent.user_id, agent


@_action("RTUserState")
def rt_user_state(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """An agent's realtime state (with ``login_oqueues`` and ``hash`` from 4.0)."""
    user_id, agent = rt_user_state_agent(state, req)
    user = state.users[user_id]
    if req.version < (4, 0):
        return Answer(views.user_state_v39(user, agent))
    body, _ = views.user_state_with_hash(user, agent)
    return Answer(raw=body)


@_action("RTUsersState")
def rt_users_state(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Every logged-in agent's realtime state keyed by id."""
    return Answer(raw=views.users_state())


@_action("StatsCallsRepeated")
def stats_calls_repeated(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Per number: how often it called, answered and not, average wait and talk."""
    span = req.span()
    queues, number = set(req.list("queues")), req.get("phonenumber")
    minimum = req.integer("count", 0)
    groups: dict[str, list[Any]] = {}
    for row in state.queue_calls:
        if not _within(row.call_time, span) or (queues and row.queue_id not in queues):
            continue
        if number and row.clid != number:
            continue
        groups.setdefault(row.clid, []).append(row)
    out = []
    for clid, rows in groups.items():
        if len(rows) <= minimum:
            continue
        answered = [r for r in rows if r.answered]
        out.append(
            {
                "clid": clid,
                "call_total": len(rows),
                "call_answered": len(answered),
                "call_unanswered": len(rows) - len(answered),
                "waiting_avg": round(sum(r.waiting_time for r in rows) / len(rows)),
                "duration_avg": round(sum(r.duration for r in answered) / len(answered))
                if answered
                else 0,
            }
        )
    return Answer(out)


@_action("StatsCalls")
def stats_calls(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Call-centre calls in a time range (newest first), filtered and paged."""
    span, page = req.span(), req.page()
    number, did, call_id = req.get("phonenumber"), req.get("did"), req.get("id_call")
    queues, users = set(req.list("queues")), set(req.list("users"))
    answered, callstatus = req.tri("answered"), req.get("callstatus")
    rows = [
        views.stats_call_row(r)
        for r in reversed(state.queue_calls)
        if _within(r.call_time, span)
        and (not number or r.clid == number)
        and (not did or r.did == did)
        and (not call_id or r.call_id == call_id)
        and (not queues or r.queue_id in queues)
        and (not users or r.user_id in users)
        and (answered is None or r.answered == answered)
        and (not callstatus or r.callstatus == callstatus)
    ]
    return Answer({"data": _paged(rows, page), "total": str(len(rows))})


_TRACE_GROUPS: Final = {
    "call": {"call", "ring_in", "ring_out"},
    "pause": {"pause"},
    "queue": {"queue"},
    "login": {"login"},
}


@_action("StatsTrace")
def stats_trace(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """One agent's logins, queue logins, pauses, ringing and calls, in order."""
    span = req.span()
    user = state.user(req.need("user"))
    trace = req.get("trace") or "all"
    if trace != "all" and trace not in _TRACE_GROUPS:
        raise _bad("trace")
    wanted = _TRACE_GROUPS.get(trace)
    return Answer(
        [
            {
                "time": fmt(t.time),
                "duration": t.duration,
                "action_name": t.action_name,
                "action_start": t.action_start,
                "action_title": t.action_title,
                "event_id": t.event_id,
                "event_title": t.event_title,
            }
            for t in state.trace
            if t.user_id == user.id
            and _within(t.time, span)
            and (wanted is None or t.action_name in wanted)
        ]
    )


@_action("StatsUsersPauses")
def stats_users_pauses(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Pause intervals of users in a time range."""
    span, page = req.span(), req.page()
    users, pauses = set(req.list("users")), set(req.list("pauses"))
    now = state.now()
    rows = [
        {
            "id": str(i.id),
            "user": i.user_id,
            "start_time": fmt(i.start),
            "end_time": fmt_opt(i.end),
            "duration": int((i.end or now) - i.start),
            "pause": int(i.ref),
        }
        for i in state.pause_log
        if _within(i.start, span)
        and (not users or i.user_id in users)
        and (not pauses or i.ref in pauses)
    ]
    return Answer({"data": _paged(rows, page), "total": str(len(rows))})


@_action("StatsUsersQueues")
def stats_users_queues(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Queue-login intervals of users in a time range."""
    span, page = req.span(), req.page()
    users = set(req.list("users"))
    now = state.now()
    rows = [
        {
            "user": i.user_id,
            "start_time": fmt(i.start),
            "end_time": fmt_opt(i.end),
            "duration": int((i.end or now) - i.start),
            "queue": int(i.ref),
        }
        for i in state.queue_log
        if _within(i.start, span) and (not users or i.user_id in users)
    ]
    return Answer({"data": _paged(rows, page), "total": len(rows)})


@_action("StatsUsersSessions")
def stats_users_sessions(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Call-centre sessions of users in a time range."""
    span, page = req.span(), req.page()
    users = set(req.list("users"))
    now = state.now()
    rows = [
        {
            "id": str(i.id),
            "user": i.user_id,
            "start_time": fmt(i.start),
            "end_time": fmt_opt(i.end),
            "duration": int((i.end or now) - i.start),
        }
        for i in state.sessions
        if _within(i.start, span) and (not users or i.user_id in users)
    ]
    return Answer({"data": _paged(rows, page), "total": str(len(rows))})

"""The action catalogue: every action of the legacy URL API (versions 3.0-4.1), as data.

Written by hand from the API document (``daktela-api-v3-v4.txt``): one :class:`ActionSpec`
per action name, merged over every section and every overload that lists it, in the order
of first appearance in the document. Where the document contradicts itself, the parameter
list wins over the examples; the choices made are recorded in ``docs/api-document-notes.md``.

Conventions:

- Parameters that the document lists as "Mandatory" but describes as alternatives ("you do
  not have to fill out ... user", "only one mandatory param", "just one of ...") are
  ``one_of`` groups, not ``required``.
- ``since`` marks parameters that only the newer overload of an action documents.
- ``documented=False`` marks parameters that the document's examples send but its lists omit.
- Actions whose record id goes in the URL path (``/Action/ID/json``) have ``id="path"`` and
  no ``id`` parameter; ``id="query"`` keeps ``id`` as an ordinary parameter.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Final

import attrs

from ._spec import ActionSpec, ParamSpec

#: Every action of the API by name, in the order the document first lists them.
ACTIONS: Final[Mapping[str, ActionSpec]] = types.MappingProxyType(
    {
        "CreateQueue": ActionSpec(
            name="CreateQueue",
            version="3.0",
            sections=("Queues",),
            summary="Create new queue. If the number of queue exist, so the queue is updated.",
            params=(
                ParamSpec("number", doc="Queue number"),
                ParamSpec("title", doc="Queue name"),
                ParamSpec("direction", doc="Direction - in, out", choices=("in", "out")),
                ParamSpec("outboundcid", doc="Outbound CallerID"),
                ParamSpec("description", doc="Description"),
                ParamSpec("wrapuptime", type="int", doc="Wrapup time"),
                ParamSpec(
                    "outbounder",
                    type="bool",
                    doc="Set boolen value, when queue is type of outbounder",
                ),
            ),
            required=("number", "title", "direction"),
            idempotent=False,
            id="path",
        ),
        "GetQueues": ActionSpec(
            name="GetQueues",
            version="3.0",
            sections=("Queues",),
            summary="Get queues info Return all queues if parameter id is not set.",
            idempotent=True,
            id="path",
        ),
        "LoginQueue": ActionSpec(
            name="LoginQueue",
            version="3.0",
            sections=("Queues", "Operators"),
            summary="Sign in user to the queue number.",
            params=(
                ParamSpec("user", doc="User login name"),
                ParamSpec("queue", doc="Queue number"),
                ParamSpec("extension", doc="Extension number where user sign in."),
                ParamSpec(
                    "priority",
                    type="int",
                    doc=(
                        "With what priority should by logged into the inbound queue. Accepted "
                        "integer 0 (high), 1, 2 (low)."
                    ),
                    minimum=0,
                    maximum=2,
                ),
            ),
            required=("user", "queue"),
            idempotent=False,
        ),
        "LogoutQueue": ActionSpec(
            name="LogoutQueue",
            version="3.0",
            sections=("Queues", "Operators"),
            summary="Sign out user from queue number",
            params=(
                ParamSpec("user", doc="User login name"),
                ParamSpec("queue", doc="Queue number"),
            ),
            required=("user", "queue"),
            idempotent=False,
        ),
        "Answer": ActionSpec(
            name="Answer",
            version="3.7",
            sections=("Operators", "Calls", "Extensions"),
            summary=(
                "Automatic remotely answer incoming call from CC queue ringing on a line. "
                "Operator's phone must supports auto answer function."
            ),
            params=(
                ParamSpec(
                    "user",
                    doc=(
                        "Agent's user name, where is call incoming to (parameter extension is not "
                        "required than)"
                    ),
                ),
                ParamSpec(
                    "extension",
                    doc=(
                        "Operator's extension (group) number, where is call incoming to "
                        "(parameter user is not required than)"
                    ),
                ),
            ),
            one_of=(("user", "extension"),),
            idempotent=False,
        ),
        "ControlPlayback": ActionSpec(
            name="ControlPlayback",
            version="3.6",
            sections=("Operators", "Calls", "Extensions"),
            summary=(
                "If the call is in progress, it is possible to play any message that is available "
                "on the PBX. This message will hear the internal extension (operator) and the "
                "other party (the customer)."
            ),
            params=(
                ParamSpec(
                    "user",
                    doc=(
                        "User login name who carries out an ongoing call (you do not have to fill "
                        "out a required parameter extension)"
                    ),
                ),
                ParamSpec(
                    "extension",
                    doc=(
                        "Extension number, which carries out an ongoing call (you do not have to "
                        "fill out a required parameter user)"
                    ),
                ),
                ParamSpec(
                    "command",
                    doc="What command to be executed",
                    choices=("play", "rewind", "pause", "forward", "stop", "status"),
                ),
                ParamSpec(
                    "recording",
                    doc="With command play, specify here name of message which you want to play.",
                ),
                ParamSpec(
                    "begintime",
                    type="int",
                    doc=(
                        "With command play, is possible specify from what time in miliseconds "
                        "should be message start playing"
                    ),
                ),
                ParamSpec(
                    "skiptime",
                    type="int",
                    doc=(
                        "With command play: how many miliseconds to skip when command rewind or "
                        "forward is called"
                    ),
                ),
            ),
            required=("command",),
            one_of=(("user", "extension"),),
            idempotent=False,
        ),
        "CreateCall": ActionSpec(
            name="CreateCall",
            version="3.0",
            sections=("Operators", "Calls", "Extensions"),
            summary="Create ooutgoing call with request on call center",
            params=(
                ParamSpec("user", doc="Agent's login name, who wants to create call", since="3.1"),
                ParamSpec("extension", doc="Internal extension number ( caller )", until="3.0"),
                ParamSpec("number", doc="Number to dial"),
                ParamSpec("accountcode", doc="Unique code which is bind to call"),
                ParamSpec(
                    "autoanswer",
                    type="bool",
                    doc="If phone supports automatic answer, you can use this. Default is false",
                    bool_format="yesno",
                ),
                ParamSpec(
                    "waitingtime",
                    type="int",
                    doc=(
                        "How long (in seconds) have phone to ring on line / extension. Default is "
                        "30 seconds."
                    ),
                ),
                ParamSpec(
                    "dialingtime",
                    type="int",
                    doc=(
                        "How long (in seconds) have phone to ring on client. Default is 120 seconds"
                    ),
                    since="3.1",
                ),
                ParamSpec("idcall", doc="ID call. This is deprecated."),
                ParamSpec(
                    "agenttext",
                    doc="Text information showed to agent on phone's display while call is dialed",
                ),
                ParamSpec(
                    "queue",
                    doc="Outgoing queue number, which is used to call. Agent must be logged in CC.",
                    since="3.1",
                ),
                ParamSpec("ticket", doc="Unique name ticket", since="3.1"),
            ),
            required=("number",),
            one_of=(("user", "extension"),),
            idempotent=False,
        ),
        "CreateUser": ActionSpec(
            name="CreateUser",
            version="4.0",
            sections=("Operators",),
            summary="Creates user",
            params=(
                ParamSpec("role", doc="Unique role id"),
                ParamSpec("profile", doc="Unique profile id"),
                ParamSpec("name", doc="User's login"),
                ParamSpec("title", doc="User's name"),
                ParamSpec("password", doc="User's password"),
                ParamSpec("description", doc="User's description"),
                ParamSpec("email", doc="User's email"),
            ),
            required=("role", "profile", "name", "title", "password"),
            idempotent=False,
        ),
        "DeleteUser": ActionSpec(
            name="DeleteUser",
            version="3.0",
            sections=("Operators",),
            summary="Delete user ID",
            idempotent=False,
            id="path",
            id_required=True,
        ),
        "GetUser": ActionSpec(
            name="GetUser",
            version="4.0",
            sections=("Operators",),
            summary="Return user by token",
            idempotent=True,
        ),
        "GetUsers": ActionSpec(
            name="GetUsers",
            version="3.0",
            sections=("Operators",),
            summary="Get users info Return all users if parameter id is not set.",
            params=(
                ParamSpec(
                    "extension", doc="Return informations for user which has extension number."
                ),
            ),
            idempotent=True,
            id="path",
        ),
        "Hangup": ActionSpec(
            name="Hangup",
            version="3.0",
            sections=("Operators", "Calls", "Extensions"),
            summary="Hangup realtime call",
            params=(
                ParamSpec("user", doc="User login name (only one mandatory param)"),
                ParamSpec(
                    "extension",
                    doc="Extension number where user sign in (only one mandatory param)",
                ),
                ParamSpec("call", doc="Unique ID of call (only one mandatory param)"),
            ),
            one_of=(("user", "extension", "call"),),
            idempotent=False,
        ),
        "Login": ActionSpec(
            name="Login",
            version="3.4",
            sections=("Operators",),
            summary=(
                "Pass a username and an extension number under which you want to sign the user. "
                "If the user has an automatic signing into a queue, then we process automatic "
                "signing into that queue. Otherwise it is necessary to call LoginQueue and sign "
                "the user into queues."
            ),
            params=(
                ParamSpec("user", doc="Agent username."),
                ParamSpec(
                    "extension",
                    doc=(
                        "Extension number under which the agent sits; unnecessary when it is "
                        "bound to the user's account."
                    ),
                ),
            ),
            required=("user",),
            idempotent=False,
        ),
        "Logout": ActionSpec(
            name="Logout",
            version="3.4",
            sections=("Operators",),
            summary=(
                "Pass an agent's username you want to sign out of all queues at the Call Centrum. "
                "An extension at where the user is sitting will be freed."
            ),
            params=(ParamSpec("user", doc="An agent's username."),),
            required=("user",),
            idempotent=False,
        ),
        "Monitoring": ActionSpec(
            name="Monitoring",
            version="3.0",
            sections=("Operators", "Calls", "Extensions"),
            summary="Online monitoring ongoing call with request on call centre",
            params=(
                ParamSpec("user", doc="Operator's login name to listen", since="3.1"),
                ParamSpec("exten", doc="Extension number to monitoring", until="3.0"),
                ParamSpec("listener", doc="Extension to listen"),
                ParamSpec(
                    "mode",
                    doc=(
                        "Monitoring type: spy, whisper, whisperprivate, barge, interactive (DTMF "
                        "4=spy, 5=whisper, 6=barge)"
                    ),
                    choices=("spy", "whisper", "whisperprivate", "barge", "interactive"),
                ),
            ),
            required=("listener", "mode"),
            one_of=(("user", "exten"),),
            idempotent=False,
        ),
        "PauseOff": ActionSpec(
            name="PauseOff",
            version="3.0",
            sections=("Operators", "Pauses"),
            summary="Unset user pause",
            params=(
                ParamSpec(
                    "user",
                    doc=(
                        "User login name (we do not need to fill in a required parameter extension)"
                    ),
                ),
                ParamSpec(
                    "extension",
                    doc=(
                        "Extension number where user sign in (we do not need to fill in a "
                        "required parameter user)"
                    ),
                ),
            ),
            one_of=(("user", "extension"),),
            idempotent=False,
        ),
        "PauseOn": ActionSpec(
            name="PauseOn",
            version="3.0",
            sections=("Operators", "Pauses"),
            summary="Set user pause on",
            params=(
                ParamSpec(
                    "user",
                    doc=(
                        "User login name (we do not need to fill in a required parameter extension)"
                    ),
                ),
                ParamSpec(
                    "extension",
                    doc=(
                        "Extension number where user sign in (we do not need to fill in a "
                        "required parameter user)"
                    ),
                ),
                ParamSpec("pause", doc="ID pause"),
                ParamSpec(
                    "force",
                    type="bool",
                    doc=(
                        "If set to yes, skip checking user state ringing, speaking or on hold. "
                        "Default is no."
                    ),
                    bool_format="yesno",
                ),
            ),
            required=("pause",),
            one_of=(("user", "extension"),),
            idempotent=False,
        ),
        "PickupFromQueue": ActionSpec(
            name="PickupFromQueue",
            version="4.0",
            sections=("Operators", "Calls"),
            summary="Picks up a call from queue",
            params=(
                ParamSpec(
                    "call_id",
                    doc="Unique ID of the call to pick up (used by the example, not listed)",
                    documented=False,
                ),
                ParamSpec(
                    "user",
                    doc=(
                        "Login name of the agent who picks the call up (used by the example, not "
                        "listed)"
                    ),
                    documented=False,
                ),
            ),
            required=("call_id", "user"),
            idempotent=False,
        ),
        "Transfer": ActionSpec(
            name="Transfer",
            version="3.0",
            sections=("Operators", "Calls", "Extensions"),
            summary="Transfer call with attended",
            params=(
                ParamSpec(
                    "user",
                    doc=(
                        "User login name (we do not need to fill in a required parameter extension)"
                    ),
                ),
                ParamSpec(
                    "extension",
                    doc=(
                        "Extension number where user sign in (we do not need to fill in a "
                        "required parameter user)"
                    ),
                ),
                ParamSpec(
                    "number",
                    doc=(
                        "Transfer call to remote phone number (just one of the parameter number, "
                        "dst_queue, dst_user)"
                    ),
                ),
                ParamSpec(
                    "dst_queue",
                    doc=(
                        "Transfer call to destination ID queue (just one of the parameter number, "
                        "dst_queue, dst_user)"
                    ),
                ),
                ParamSpec(
                    "dst_user",
                    doc=(
                        "Transfer call to destination ID user (just one of the parameter number, "
                        "dst_queue, dst_user)"
                    ),
                ),
                ParamSpec(
                    "type",
                    doc="Type of transfer: attended (default) or blind",
                    choices=("attended", "blind"),
                ),
            ),
            one_of=(
                ("user", "extension"),
                ("number", "dst_queue", "dst_user"),
            ),
            idempotent=False,
        ),
        "UpdateUser": ActionSpec(
            name="UpdateUser",
            version="4.0",
            sections=("Operators",),
            summary="Updates user",
            params=(
                ParamSpec("name", doc="User's login"),
                ParamSpec("role", doc="User's unique role"),
                ParamSpec("profile", doc="Unique profile id"),
                ParamSpec("title", doc="User's name"),
                ParamSpec("description", doc="User's description"),
                ParamSpec("password", doc="User's password"),
                ParamSpec("email", doc="User's email"),
            ),
            required=("name",),
            idempotent=False,
        ),
        "AboutCall": ActionSpec(
            name="AboutCall",
            version="3.0",
            sections=("Calls", "Statistics"),
            summary=(
                "Get CDR fields - caller, callee, user, queue, ringing time, speaking time, "
                "direction, path to recording, DID, recording hash. For binary download recording "
                "use recording hash which impart action GetRecording"
            ),
            params=(ParamSpec("id_call", doc="Unique ID call"),),
            required=("id_call",),
            idempotent=True,
        ),
        "ClickToCall": ActionSpec(
            name="ClickToCall",
            version="3.9",
            sections=("Calls",),
            summary=(
                "Creates an outbound call to the customer number in the queue Click to Call. When "
                "the operator answers the call and will be connected to the customer."
            ),
            params=(
                ParamSpec("queue", doc="No. queue type Click to Call"),
                ParamSpec("number", doc="Customer's telephone number, which is to be connected"),
                ParamSpec(
                    "agenttext",
                    doc=(
                        "Text information, which will see the agent on your phone's display "
                        "during the call connection."
                    ),
                ),
                ParamSpec(
                    "waitingtime",
                    type="int",
                    doc=(
                        "How long in seconds the call waits in the queue until an operator "
                        "answers. The default value is 7200 seconds."
                    ),
                ),
                ParamSpec("idcall", doc="ID whereby we can find the CDR information and pass"),
            ),
            required=("queue", "number"),
            idempotent=False,
        ),
        "CreateRemoteCall": ActionSpec(
            name="CreateRemoteCall",
            version="3.8",
            sections=("Calls",),
            summary=(
                "Pass external phone number, where is call made to. After answer is call dialed "
                "to secondarynumber."
            ),
            params=(
                ParamSpec(
                    "primarynumber", doc="Pass external phone number, where is call made to."
                ),
                ParamSpec("secondarynumber", doc="Phone number dialed after answer primary call"),
                ParamSpec("accountcode", doc="unique code binded to call"),
                ParamSpec(
                    "directdid",
                    type="bool",
                    doc=(
                        "If is set to true, call is made to number (secondarynumber), which is "
                        "defined in Incoming redirect at module PBX..."
                    ),
                ),
                ParamSpec("dialingtime", type="int", doc="How long call rings till is hanguped"),
                ParamSpec("idcall", doc="ID call with CDR and recording"),
                ParamSpec("recording", type="bool", doc="record call"),
                ParamSpec(
                    "variables",
                    type="dict",
                    doc=(
                        "Array hash variables, which can be used in PBX's dialplan. Variables are "
                        "accessible via function HASH(CRMAPI,foo)."
                    ),
                ),
            ),
            required=("primarynumber", "secondarynumber"),
            idempotent=False,
        ),
        "GetAttempts": ActionSpec(
            name="GetAttempts",
            version="4.1",
            sections=("Calls",),
            summary=(
                "Listing call centers attempts. The maximum limit of returned calls is 1000, "
                "after exceeding returns an error."
            ),
            params=(
                ParamSpec(
                    "datetime_from",
                    type="datetime",
                    doc="From what time to look for calls. Time format YYYY-MM-DD HH:MM:SS",
                ),
                ParamSpec(
                    "datetime_to",
                    type="datetime",
                    doc="To what time to look for calls. Time format YYYY-MM-DD HH:MM:SS",
                ),
                ParamSpec("queues", type="list", doc="Array ID of queues"),
                ParamSpec("id_call", doc="Unique number of the call"),
                ParamSpec("users", type="list", doc="Array ID of users"),
                ParamSpec("skip", type="int", doc="Row offset, default value: 0"),
                ParamSpec("take", type="int", doc="Row count, default value: 100"),
            ),
            required=("datetime_from", "datetime_to"),
            idempotent=True,
        ),
        "GetRecording": ActionSpec(
            name="GetRecording",
            version="3.0",
            sections=("Calls", "Statistics"),
            summary=(
                "Download voice recording with valid recording hash. Recording hash get action "
                "AboutCall."
            ),
            params=(
                ParamSpec("recording_hash", doc="This hash get from action AboutCall"),
                ParamSpec(
                    "octetstream",
                    type="bool",
                    doc="If set true, header Content-Type will set application/octet-stream.",
                ),
            ),
            required=("recording_hash",),
            idempotent=True,
            binary=True,
        ),
        "DeviceStates": ActionSpec(
            name="DeviceStates",
            version="3.0",
            sections=("Extensions",),
            summary="Get device states States: AVAILABLE UNAVAILABLE ONHOLD INUSE RINGING",
            idempotent=True,
        ),
        "GetExtensionUsers": ActionSpec(
            name="GetExtensionUsers",
            version="4.1",
            sections=("Extensions",),
            summary="Return users related with the given extension.",
            params=(ParamSpec("extension", doc="The extension name."),),
            required=("extension",),
            idempotent=True,
        ),
        "CreatePause": ActionSpec(
            name="CreatePause",
            version="3.3",
            sections=("Pauses",),
            summary=(
                "Create or edit a pause, which will be available for all operators in the Call "
                "Centrum's applications as the WebAgent, PhoneAgent, API."
            ),
            params=(
                ParamSpec("title", doc="Name of a pause."),
                ParamSpec(
                    "name",
                    doc="Name of the pause as the examples send it (the list says title)",
                    documented=False,
                ),
                ParamSpec(
                    "type",
                    doc=(
                        "Type of a pause - system pause Wrap(wrap), system pause Lajdák(lajdak) "
                        "or non-system pause(normal)."
                    ),
                    choices=("wrap", "lajdak", "normal"),
                ),
                ParamSpec(
                    "paid",
                    type="bool",
                    doc=(
                        "Whether the pause is paid(yes) or not(no). E.g. Wrap pause should be "
                        "paid, but pause Lajdák not."
                    ),
                    bool_format="yesno",
                ),
                ParamSpec(
                    "billable",
                    type="bool",
                    doc="Whether the pause is paid, as the examples send it (the list says paid)",
                    bool_format="yesno",
                    documented=False,
                ),
                ParamSpec("code", doc="Special code of a pause."),
            ),
            required=("type",),
            one_of=(
                ("title", "name"),
                ("paid", "billable"),
            ),
            idempotent=False,
            id="path",
        ),
        "GetPauses": ActionSpec(
            name="GetPauses",
            version="3.0",
            sections=("Pauses",),
            summary="List of all pauses including the deleted ones.",
            idempotent=True,
            id="path",
            forms=("3.3",),
        ),
        "CDR": ActionSpec(
            name="CDR",
            version="3.5",
            sections=("Statistics",),
            summary=(
                "List of CDR (Call Detail Records) with function call billing. Price of call is "
                "dependend on price list, that is imported to module CDR"
            ),
            params=(
                ParamSpec(
                    "datetime_from",
                    type="datetime",
                    doc="From whach time to look for calls. Time format YYYY-MM-DD HH:MM:SS",
                ),
                ParamSpec(
                    "datetime_to",
                    type="datetime",
                    doc="To whach time to look for calls. Time format YYYY-MM-DD HH:MM:SS",
                ),
                ParamSpec(
                    "real_extens",
                    type="list",
                    doc=(
                        "Extension numbers, which were participated to calls. Optionally you can "
                        "specify multiple extensions into the array;"
                    ),
                ),
                ParamSpec(
                    "accountcodes",
                    type="list",
                    doc=(
                        "On what account codes list calls. Optionally you can specify multiple "
                        "account codes into the array;"
                    ),
                ),
                ParamSpec(
                    "direction",
                    doc="What call direction. Options are in, out, local",
                    choices=("in", "out", "local"),
                ),
                ParamSpec(
                    "destinations",
                    type="list",
                    doc=(
                        "Despite what the destination list calls. You can enter multiple types of "
                        "destinations in array."
                    ),
                ),
                ParamSpec("disposition", doc="For list only answered calls, set to ANSWERED."),
                ParamSpec(
                    "src_channels",
                    type="list",
                    doc=(
                        "Through what incomming channels we want to list calls. Optionally you "
                        "can specify multiple channels into the array."
                    ),
                ),
                ParamSpec(
                    "dst_channels",
                    type="list",
                    doc=(
                        "Through what outgoing channels we want to list calls. Optionally you can "
                        "specify multiple channels into the array."
                    ),
                ),
                ParamSpec(
                    "min_price_call",
                    type="float",
                    doc="Will be listed only calls that are more expensive than here specify.",
                ),
                ParamSpec("billing", type="bool", doc="Boolean value, when get price"),
            ),
            required=("datetime_from", "datetime_to"),
            idempotent=True,
        ),
        "LastCallNumber": ActionSpec(
            name="LastCallNumber",
            version="3.9",
            sections=("Statistics",),
            summary=(
                "Returns information about the last call to the phone number, that is, "
                "information about the agent and queue in which the call took place."
            ),
            params=(
                ParamSpec("phonenumber", doc="Prone number"),
                ParamSpec(
                    "interval",
                    type="int",
                    doc="How many seconds to look back into history (default is 1 day)",
                ),
                ParamSpec(
                    "answered",
                    type="bool",
                    doc="Answering a call (true | false)",
                    bool_format="yesno",
                ),
                ParamSpec("queues", type="list", doc="Area ID queues"),
                ParamSpec("queues_number", type="list", doc="Area number queues (example 2000)"),
            ),
            required=("phonenumber",),
            idempotent=True,
        ),
        "LastCall": ActionSpec(
            name="LastCall",
            version="3.9",
            sections=("Statistics",),
            summary="Returns information about the current call or the last completed call",
            params=(
                ParamSpec(
                    "user",
                    doc="Username agent (do not have to fill in a required parameter extension)",
                ),
                ParamSpec(
                    "extension",
                    doc="Number extension (do not have to fill in a required parameter user)",
                ),
            ),
            one_of=(("user", "extension"),),
            idempotent=True,
        ),
        "RTQueuePresence": ActionSpec(
            name="RTQueuePresence",
            version="3.9",
            sections=("Statistics",),
            summary=(
                "Returns information whether the chats (Click-to-Call) queue online. If you are "
                "logged into that queue operators, it returns true. Suitable when you want to "
                "hide chat in front of customers (or Click-to-Call) form."
            ),
            params=(ParamSpec("queue", doc="Number queue"),),
            required=("queue",),
            idempotent=True,
        ),
        "RTStatsCalls": ActionSpec(
            name="RTStatsCalls",
            version="3.5",
            sections=("Statistics",),
            summary="Return current overview ongoing calls",
            idempotent=True,
        ),
        "RTStatsPauses": ActionSpec(
            name="RTStatsPauses",
            version="3.5",
            sections=("Statistics",),
            summary="Return current overview of used pauses by agents",
            idempotent=True,
        ),
        "RTStatsQueuesSummary": ActionSpec(
            name="RTStatsQueuesSummary",
            version="3.5",
            sections=("Statistics",),
            summary="Return current overvirew about total count of agents, calls in each queue",
            params=(
                ParamSpec("users", type="list", doc="ID of agents, who want to filter"),
                ParamSpec("queues", type="list", doc="ID of queues, which want to filter"),
            ),
            idempotent=True,
        ),
        "RTStatsQueues": ActionSpec(
            name="RTStatsQueues",
            version="3.5",
            sections=("Statistics",),
            summary="Return current overvirew about total count of agents, calls in each queue",
            idempotent=True,
        ),
        "RTStatsSessions": ActionSpec(
            name="RTStatsSessions",
            version="3.5",
            sections=("Statistics",),
            summary=(
                "Return current overvirew of logged agents with option to filter agents by queue, "
                "which are loggend in"
            ),
            params=(
                ParamSpec("users", type="list", doc="Array of users IDs"),
                ParamSpec("queues", type="list", doc="Array of queues IDs"),
            ),
            idempotent=True,
        ),
        "RTUserState": ActionSpec(
            name="RTUserState",
            version="3.9",
            sections=("Statistics",),
            summary=(
                "Returns the current status of the user who is logged in the Call Center, "
                "including the current call"
            ),
            params=(
                ParamSpec(
                    "user",
                    doc=(
                        "Username agent (you do not have to fill out a required parameter "
                        "extension)"
                    ),
                ),
                ParamSpec(
                    "extension",
                    doc="Extension number (you do not have to fill out a required parameter user)",
                ),
                ParamSpec(
                    "hash",
                    doc=(
                        "Hash of the last result: the answer waits for a change of state (up to "
                        "60 s; client timeout >= 70 s)"
                    ),
                    since="4.0",
                ),
            ),
            one_of=(("user", "extension"),),
            idempotent=True,
            long_poll=True,
        ),
        "RTUsersState": ActionSpec(
            name="RTUsersState",
            version="4.1",
            sections=("Statistics",),
            summary="Return array users with realtime state",
            idempotent=True,
        ),
        "StatsCallsRepeated": ActionSpec(
            name="StatsCallsRepeated",
            version="3.9",
            sections=("Statistics",),
            summary="Returns the same number of calls that are repeated at a specified interval",
            params=(
                ParamSpec(
                    "datetime_from",
                    type="datetime",
                    doc="From what time to look for calls. Time format YYYY-MM-DD HH:MM:SS",
                ),
                ParamSpec(
                    "datetime_to",
                    type="datetime",
                    doc="To what time to look for calls. Time format YYYY-MM-DD HH:MM:SS",
                ),
                ParamSpec("queues", type="list", doc="Area ID queues"),
                ParamSpec("phonenumber", doc="Phone number"),
                ParamSpec(
                    "count",
                    type="int",
                    doc=(
                        "Show only telephone numbers, where the number of repeated calls larger "
                        "(in the excerpt call_total)"
                    ),
                ),
            ),
            required=("datetime_from", "datetime_to"),
            idempotent=True,
        ),
        "StatsCalls": ActionSpec(
            name="StatsCalls",
            version="4.1",
            sections=("Statistics",),
            summary=(
                "Listing call centers calls. The maximum limit of returned calls is 1000, after "
                "exceeding returns an error."
            ),
            params=(
                ParamSpec(
                    "datetime_from",
                    type="datetime",
                    doc="From what time to look for calls. Time format YYYY-MM-DD HH:MM:SS",
                ),
                ParamSpec(
                    "datetime_to",
                    type="datetime",
                    doc="To what time to look for calls. Time format YYYY-MM-DD HH:MM:SS",
                ),
                ParamSpec("phonenumber", doc="Phone number"),
                ParamSpec("queues", type="list", doc="Array ID of queues"),
                ParamSpec("did", doc="DID number (incoming number to which calls)"),
                ParamSpec("callstatus", doc="ID of calling state"),
                ParamSpec("answered", type="bool", doc="Answered call (true | false)"),
                ParamSpec("id_call", doc="Unique number of the call"),
                ParamSpec("users", type="list", doc="Array ID of users"),
                ParamSpec("skip", type="int", doc="Row offset, default value: 0"),
                ParamSpec("take", type="int", doc="Row count, default value: 100"),
            ),
            required=("datetime_from", "datetime_to"),
            idempotent=True,
        ),
        "StatsTrace": ActionSpec(
            name="StatsTrace",
            version="3.5",
            sections=("Statistics",),
            summary=(
                "Chronologically lists the requested actions of a given operator: logins and "
                "logouts to the Call Centre, queues and pauses, and the calls that went to the "
                "operator."
            ),
            params=(
                ParamSpec(
                    "datetime_from",
                    type="datetime",
                    doc="From whach time to look for actions. Time format YYYY-MM-DD HH:MM:SS",
                ),
                ParamSpec(
                    "datetime_to",
                    type="datetime",
                    doc="To whach time to look for actions. Time format YYYY-MM-DD HH:MM:SS",
                ),
                ParamSpec("user", doc="Login name of user, that want to trace"),
                ParamSpec(
                    "trace",
                    doc=(
                        "What action want to list. If not specified, all actions will liested (all)"
                    ),
                    choices=("all", "call", "pause", "queue", "login"),
                ),
            ),
            required=("datetime_from", "datetime_to", "user"),
            idempotent=True,
        ),
        "StatsUsersPauses": ActionSpec(
            name="StatsUsersPauses",
            version="4.1",
            sections=("Statistics",),
            summary="Chronological lists of user's logins on pauses",
            params=(
                ParamSpec(
                    "datetime_from",
                    type="datetime",
                    doc=(
                        "From what time to look for logins on pauses. Time format YYYY-MM-DD "
                        "HH:MM:SS"
                    ),
                ),
                ParamSpec(
                    "datetime_to",
                    type="datetime",
                    doc=(
                        "To what time to look for logins on pauses. Time format YYYY-MM-DD HH:MM:SS"
                    ),
                ),
                ParamSpec("users", type="list", doc="array ID users"),
                ParamSpec("pauses", type="list", doc="array ID of pauses."),
                ParamSpec("skip", type="int", doc="Row offset, default value: 0"),
                ParamSpec("take", type="int", doc="Row count, default value: 100"),
            ),
            required=("datetime_from", "datetime_to"),
            idempotent=True,
        ),
        "StatsUsersQueues": ActionSpec(
            name="StatsUsersQueues",
            version="4.1",
            sections=("Statistics",),
            summary="Chronological lists of user's logins in a queues",
            params=(
                ParamSpec(
                    "datetime_from",
                    type="datetime",
                    doc=(
                        "From what time to look for logins to queues. Time format YYYY-MM-DD "
                        "HH:MM:SS"
                    ),
                ),
                ParamSpec(
                    "datetime_to",
                    type="datetime",
                    doc=(
                        "To what time to look for logins to queues. Time format YYYY-MM-DD HH:MM:SS"
                    ),
                ),
                ParamSpec("users", type="list", doc="array ID users"),
                ParamSpec("skip", type="int", doc="Row offset, default value: 0"),
                ParamSpec("take", type="int", doc="Row count, default value: 100"),
            ),
            required=("datetime_from", "datetime_to"),
            idempotent=True,
        ),
        "StatsUsersSessions": ActionSpec(
            name="StatsUsersSessions",
            version="4.1",
            sections=("Statistics",),
            summary="Chronological lists of login users in a call center",
            params=(
                ParamSpec(
                    "datetime_from",
                    type="datetime",
                    doc="From what time to look for calls. Time format YYYY-MM-DD HH:MM:SS",
                ),
                ParamSpec(
                    "datetime_to",
                    type="datetime",
                    doc="To what time to look for calls. Time format YYYY-MM-DD HH:MM:SS",
                ),
                ParamSpec("users", type="list", doc="array ID users"),
                ParamSpec("skip", type="int", doc="Row offset, default value: 0"),
                ParamSpec("take", type="int", doc="Row count, default value: 100"),
            ),
            required=("datetime_from", "datetime_to"),
            idempotent=True,
        ),
        "GetSMSSettings": ActionSpec(
            name="GetSMSSettings",
            version="3.1",
            sections=("SMS", "SMSConnect"),
            summary=(
                "You get a URL and email callbacks when incoming and outgoing SMS messages, times "
                "when you can send SMS messages and the number of messages sent per time period."
            ),
            idempotent=True,
        ),
        "GetSMS": ActionSpec(
            name="GetSMS",
            version="3.1",
            sections=("SMS",),
            summary=(
                "If search parameters is omitted, returns all SMS ordered by date (from oldest to "
                "newest). You can search by MSISDN, text in message, gateway number, slo number, "
                'port number. If result contains "error", then in code_error is hex error code, '
                "see list of all error states for details"
            ),
            params=(
                ParamSpec(
                    "direction",
                    doc="Only incoming (in) or outgoing (out) messages.",
                    choices=("in", "out"),
                ),
                ParamSpec("keyword", doc="Search via MSISDN or text in messages."),
                ParamSpec(
                    "accountcode",
                    type="list",
                    doc=(
                        "Optional message identification at outgoing message. You may pass the "
                        "array, if you need more accoutcodes."
                    ),
                ),
                ParamSpec("email", doc="Optional field email, if was set along outgoing message."),
                ParamSpec("gw", type="int", doc="Only messages sent via this gateway"),
                ParamSpec("slot", type="int", doc="Only messages sent via this slot"),
                ParamSpec("port", type="int", doc="Only messages sent via this port"),
                ParamSpec(
                    "datetime_from",
                    type="datetime",
                    doc="Start date and time in format YYYY-MM-DD HH:MM:SS",
                ),
                ParamSpec(
                    "datetime_to",
                    type="datetime",
                    doc="End date and time in format YYYY-MM-DD HH:MM:SS",
                ),
            ),
            idempotent=True,
            id="path",
        ),
        "RemoveGroupSMS": ActionSpec(
            name="RemoveGroupSMS",
            version="3.1",
            sections=("SMS",),
            summary=(
                "Cancels sending all group SMS in waiting state. Returns count of cancelled SMS "
                "messages."
            ),
            idempotent=False,
            id="path",
            id_required=True,
        ),
        "SendGroupSMS": ActionSpec(
            name="SendGroupSMS",
            version="3.1",
            sections=("SMS",),
            summary=(
                "Send group SMS via hosting gateway. Max limit is 20.000 messages. If you own "
                "more SIM cards, they're used cyclic."
            ),
            params=(
                ParamSpec(
                    "number",
                    type="list",
                    doc="Array with MSISDNs to send SMS. Max limit is 20.000 messages.",
                ),
                ParamSpec(
                    "message",
                    type="list",
                    doc=(
                        "Array with SMS message. One SMS is limited to 160 characters, longer "
                        "messages are split (max. 1377 characters)."
                    ),
                ),
                ParamSpec(
                    "confirmation",
                    type="bool",
                    doc=(
                        "Message delivery report. You need to have set URL callback or email "
                        "address, where notification is send."
                    ),
                    bool_format="yesno",
                ),
                ParamSpec(
                    "unicode",
                    type="bool",
                    doc=(
                        "SMS message is in unicode. Maximum length of one SMS is shortned to 70 "
                        "characters."
                    ),
                    bool_format="yesno",
                ),
                ParamSpec("email", doc="Email where delivery notification is send to."),
                ParamSpec("accountcode", doc="Optional message ID, which is send in URL callback."),
                ParamSpec(
                    "priority",
                    type="int",
                    doc="Priority. Range is 0 (low) to 20 (high). Default is 10.",
                    minimum=0,
                    maximum=20,
                ),
                ParamSpec(
                    "datetime_scheduled",
                    type="datetime",
                    doc="Scheduled date and time for your message. Format YYYY-MM-DD HH:MM:SS",
                ),
            ),
            required=("number", "message"),
            idempotent=False,
        ),
        "SendSMS": ActionSpec(
            name="SendSMS",
            version="3.1",
            sections=("SMS",),
            summary="Send SMS via hosting gateway. If you own more SIM cards, they're used cyclic.",
            params=(
                ParamSpec("number", doc="MSISDN"),
                ParamSpec(
                    "message",
                    doc=(
                        "SMS message. One SMS is limited to 160 characters, if more characters is "
                        "specified, message will be split into more SMS."
                    ),
                ),
                ParamSpec(
                    "confirmation",
                    type="bool",
                    doc=(
                        "Message delivery report. You need to have set URL callback or email "
                        "address, where notification is send."
                    ),
                    bool_format="yesno",
                ),
                ParamSpec(
                    "unicode",
                    type="bool",
                    doc=(
                        "SMS message is in unicode. Maximum length of one SMS is shortned to 70 "
                        "characters."
                    ),
                    bool_format="yesno",
                ),
                ParamSpec("email", doc="Email where delivery notification is send to."),
                ParamSpec("accountcode", doc="Optional message ID, which is send in URL callback."),
                ParamSpec(
                    "gw",
                    type="int",
                    doc=(
                        "Gateway number which is used to send sms, if there are more SIM cards. "
                        "For use you need specify gw, slot and port."
                    ),
                ),
                ParamSpec(
                    "slot",
                    type="int",
                    doc=(
                        "Slot number which is used to send sms, if there are more SIM cards. For "
                        "use you need specify gw, slot and port."
                    ),
                ),
                ParamSpec(
                    "port",
                    type="int",
                    doc=(
                        "Port number which is used to send sms, if there are more SIM cards. For "
                        "use you need specify gw, slot and port."
                    ),
                ),
                ParamSpec(
                    "priority",
                    type="int",
                    doc="Priority. Range is 0 (low) to 20 (high). Default is 10.",
                    minimum=0,
                    maximum=20,
                ),
                ParamSpec(
                    "datetime_scheduled",
                    type="datetime",
                    doc="Scheduled date and time for your message. Format YYYY-MM-DD HH:MM:SS",
                ),
            ),
            required=("number", "message"),
            idempotent=False,
        ),
        "SetSMSSettings": ActionSpec(
            name="SetSMSSettings",
            version="3.1",
            sections=("SMS", "SMSConnect"),
            summary=(
                "You can set incoming or outgoing URL callback, which is called when SMS is sent "
                "or received. You can also specify email, where is message send to. URL can "
                "contain credentials for Basic Authorizaci (htaccess). For exmaple "
                "http://login:password@pbx.in:8080/path"
            ),
            params=(
                ParamSpec("incoming_callback", doc="URL to notify all incoming SMS messages."),
                ParamSpec(
                    "outgoing_callback",
                    doc="URL to notify all outgoing SMS messages, including DLR",
                ),
                ParamSpec("incoming_email", doc="Email to notify all incoming SMS messages."),
                ParamSpec(
                    "outgoing_email", doc="Email to notify all outgoing SMS messages, including DLR"
                ),
                ParamSpec(
                    "sending_rate_limit",
                    type="int",
                    doc=(
                        "Send message limit (needs sending_rate_time); only for messages sent via "
                        "SendSMS. Set to 0 for disable."
                    ),
                ),
                ParamSpec(
                    "sending_rate_time",
                    type="int",
                    doc=(
                        "Limit time in seconds (needs sending_rate_limit); only for messages sent "
                        "via SendSMS. Set to 0 for disable."
                    ),
                ),
                ParamSpec(
                    "allowed_hour_begin",
                    type="int",
                    doc=(
                        "First hour, when messages can be send (others wait on the server). Set "
                        "to 0 for disable."
                    ),
                    minimum=0,
                    maximum=23,
                ),
                ParamSpec(
                    "allowed_hour_end",
                    type="int",
                    doc=(
                        "Last hour, when messages can be send (others wait on the server). Set to "
                        "0 for disable."
                    ),
                    minimum=0,
                    maximum=23,
                ),
            ),
            idempotent=False,
        ),
        "StatusGroupSMS": ActionSpec(
            name="StatusGroupSMS",
            version="3.1",
            sections=("SMS",),
            summary="Returns sent/wating/error message counts",
            params=(
                ParamSpec(
                    "waiting",
                    type="bool",
                    doc="Set true when you need information only about waiting messages",
                ),
            ),
            idempotent=True,
            id="path",
        ),
        "StatusSMS": ActionSpec(
            name="StatusSMS",
            version="3.1",
            sections=("SMS",),
            summary="Returns total count of SMS to send and last sent SMS date",
            idempotent=True,
        ),
        "GetSMSConnect": ActionSpec(
            name="GetSMSConnect",
            version="4.1",
            sections=("SMSConnect",),
            summary=(
                "If search parameters is omitted, returns all SMS ordered by date (from oldest to "
                "newest)."
            ),
            params=(
                ParamSpec(
                    "direction",
                    doc="Only incoming (in) or outgoing (out) messages.",
                    choices=("in", "out"),
                ),
                ParamSpec("keyword", doc="Search via MSISDN or text in messages."),
                ParamSpec(
                    "datetime_from",
                    type="datetime",
                    doc="Start date and time in format YYYY-MM-DD HH:MM:SS",
                ),
                ParamSpec(
                    "datetime_to",
                    type="datetime",
                    doc="End date and time in format YYYY-MM-DD HH:MM:SS",
                ),
                ParamSpec(
                    "accountcode",
                    type="list",
                    doc=(
                        "Optional message identification at outgoing message. You may pass the "
                        "array, if you need more accoutcodes."
                    ),
                ),
            ),
            idempotent=True,
            id="path",
        ),
        "SendGroupSMSConnect": ActionSpec(
            name="SendGroupSMSConnect",
            version="3.1",
            sections=("SMSConnect",),
            summary="Send group SMS via hosting gateway. Max limit is 20.000 messages.",
            params=(
                ParamSpec(
                    "number",
                    type="list",
                    doc="Array with MSISDNs to send SMS. Max limit is 20.000 messages.",
                ),
                ParamSpec(
                    "message",
                    type="list",
                    doc=(
                        "Array with SMS message. One SMS is limited to 160 characters, longer "
                        "messages are split (max. 1377 characters)."
                    ),
                ),
                ParamSpec(
                    "confirmation",
                    type="bool",
                    doc=(
                        "Message delivery report. You need to have set URL callback or email "
                        "address, where notification is send."
                    ),
                    bool_format="yesno",
                ),
                ParamSpec("accountcode", doc="Optional message ID, which is send in URL callback."),
                ParamSpec(
                    "priority",
                    type="int",
                    doc="Priority. Range is 0 (low) to 20 (high). Default is 10.",
                    minimum=0,
                    maximum=20,
                ),
                ParamSpec(
                    "datetime_scheduled",
                    type="datetime",
                    doc="Scheduled date and time for your message. Format YYYY-MM-DD HH:MM:SS",
                ),
                ParamSpec(
                    "sender",
                    doc=(
                        "Outbound identification. This identification must be allowed. Default is "
                        "Info."
                    ),
                ),
            ),
            required=("number", "message"),
            idempotent=False,
        ),
        "SendSMSConnect": ActionSpec(
            name="SendSMSConnect",
            version="4.1",
            sections=("SMSConnect",),
            summary="Sends SMS message",
            params=(
                ParamSpec("number", doc="Recipient's number, in format +420xxx"),
                ParamSpec(
                    "message",
                    doc=(
                        "SMS message. One SMS is limited to 160 characters, if more characters is "
                        "specified, message will be split into more SMS."
                    ),
                ),
                ParamSpec(
                    "confirmation",
                    type="bool",
                    doc=(
                        "Message delivery report. You need to have set URL callback or email "
                        "address, where notification is send."
                    ),
                    bool_format="yesno",
                ),
                ParamSpec(
                    "priority",
                    type="int",
                    doc="Priority. Range is 0 (low) to 20 (high). Default is 10.",
                    minimum=0,
                    maximum=20,
                ),
                ParamSpec("accountcode", doc="Optional message ID, which is send in URL callback."),
                ParamSpec(
                    "datetime_scheduled",
                    type="datetime",
                    doc="Scheduled date and time for your message. Format YYYY-MM-DD HH:MM:SS",
                ),
                ParamSpec(
                    "sender",
                    doc=(
                        "Outbound identification. This identification must be allowed. Default is "
                        "Info."
                    ),
                ),
                ParamSpec(
                    "unicode",
                    type="bool",
                    doc=(
                        "SMS message is in unicode. Maximum length of one SMS is shortned to 70 "
                        "characters."
                    ),
                    bool_format="yesno",
                ),
            ),
            required=("number", "message"),
            idempotent=False,
        ),
        "StatusSMSConnect": ActionSpec(
            name="StatusSMSConnect",
            version="4.1",
            sections=("SMSConnect",),
            summary="Returns total count of SMS to send",
            idempotent=True,
        ),
        "CallScriptClose": ActionSpec(
            name="CallScriptClose",
            version="4.0",
            sections=("Forms",),
            summary=(
                "Saves and closes open call script by operator, including logout from WRAP pause."
            ),
            params=(
                ParamSpec("record", doc="item ID (call_id is not mandatory then)"),
                ParamSpec(
                    "call_id",
                    doc="Unique call id, which is bind to open item (record is not mandatory then)",
                ),
                ParamSpec(
                    "status",
                    doc=(
                        "Unique status name, which is set to. State must be set for first call "
                        "entry."
                    ),
                ),
                ParamSpec("number", doc="Set phone number"),
                ParamSpec(
                    "nextcall",
                    type="datetime",
                    doc="Set date and time to next call, in format YYYY-MM-DD HH:MM:SS",
                ),
                ParamSpec(
                    "user",
                    doc=(
                        "Set operator's login name (another operator has to work on this item). "
                        "Keep blank to release current operator."
                    ),
                ),
                ParamSpec(
                    "fields",
                    type="dict",
                    doc="Array optional form's inputs to set. Array key is unique input's name.",
                ),
                ParamSpec(
                    "pause",
                    doc=(
                        "Unique pause name to switch to from WRAP after the form is saved; if not "
                        "given, the user leaves WRAP pause."
                    ),
                ),
            ),
            one_of=(("record", "call_id"),),
            idempotent=False,
        ),
        "CallScriptOpened": ActionSpec(
            name="CallScriptOpened",
            version="4.0",
            sections=("Forms",),
            summary=(
                "Returns information about open call script. Open forms protects release from "
                "pause or logout from call centre, so these forms have to be closed."
            ),
            params=(ParamSpec("user", doc="Operator's login name"),),
            required=("user",),
            idempotent=True,
        ),
        "CopyRecords": ActionSpec(
            name="CopyRecords",
            version="3.3",
            sections=("Forms",),
            summary=(
                "By the searched criteria it will filter records from the one campaign and copy "
                "them to the other campaign."
            ),
            params=(
                ParamSpec(
                    "id",
                    doc=(
                        "ID of the record you want to copy (you don't have to pass the mandatory "
                        "parameter src_queue)."
                    ),
                ),
                ParamSpec(
                    "src_queue",
                    doc=(
                        "A number of the queue you want to search for the items (you don't have "
                        "to pass the mandatory parameter id)."
                    ),
                ),
                ParamSpec(
                    "dst_queue",
                    doc="A number of the queue into which you want to copy the searched items.",
                ),
                ParamSpec(
                    "search_datetime_modify_from",
                    type="datetime",
                    doc=(
                        "From which date and time to filter the last record's change in the "
                        "src_queue campaign."
                    ),
                ),
                ParamSpec(
                    "search_datetime_modify_to",
                    type="datetime",
                    doc=(
                        "To which date and time to filter the last record's change in the "
                        "src_queue campaign."
                    ),
                ),
                ParamSpec(
                    "search_datetime_nextcall_from",
                    type="datetime",
                    doc=(
                        "From which date and time to filter the scheduled calls in the src_queue "
                        "campaign."
                    ),
                ),
                ParamSpec(
                    "search_datetime_nextcall_to",
                    type="datetime",
                    doc=(
                        "To which date and time to filter the scheduled calls in the src_queue "
                        "campaign."
                    ),
                ),
                ParamSpec(
                    "search_datetime_created_from",
                    type="datetime",
                    doc=(
                        "From which date and time to filter the creation of record in the "
                        "src_queue campaign."
                    ),
                ),
                ParamSpec(
                    "search_datetime_created_to",
                    type="datetime",
                    doc=(
                        "To which date and time to filter the creation of record in the src_queue "
                        "campaign."
                    ),
                ),
                ParamSpec(
                    "update_action",
                    doc=(
                        "Action of the copied records (default unchanged): 0 free, 5 saved and "
                        "done, 6 scheduled for later"
                    ),
                    choices=("0", "5", "6"),
                ),
                ParamSpec(
                    "update_callstatus",
                    doc=(
                        "ID of state of the call for the copied records (default unchanged). "
                        "Leave empty to free the state."
                    ),
                ),
                ParamSpec(
                    "update_agent",
                    doc=(
                        "ID of user to assign the copied records to (default unchanged). Leave "
                        "empty to free the user."
                    ),
                ),
                ParamSpec(
                    "update_datetime_nextcall",
                    type="datetime",
                    doc="Pass to determine to which date and time to schedule a calls.",
                ),
                ParamSpec(
                    "update_datetime_modify",
                    type="bool",
                    doc=(
                        "Whether to change the date of the last modification in the target "
                        "campaign while copying (yes / no)"
                    ),
                    bool_format="yesno",
                ),
            ),
            required=("dst_queue",),
            one_of=(("id", "src_queue"),),
            idempotent=False,
            id="query",
        ),
        "CreateRecord": ActionSpec(
            name="CreateRecord",
            version="4.1",
            sections=("Forms",),
            summary=(
                "Import a data of one record into the outbounder campaign. Remember, when the "
                "structure of that campaign has been changed, e.g. adding or other dislocation of "
                "the data items, it is necessary to adjust the call of this API."
            ),
            params=(
                ParamSpec(
                    "queue",
                    doc="A queue's ID or a campaign into which you want to import a record.",
                ),
                ParamSpec("phonenumber", doc="A phone number you want to import."),
                ParamSpec(
                    "fields",
                    type="dict",
                    doc=(
                        "An array of values of optional items you want to import. A key in the "
                        "array is an ID of the optional item."
                    ),
                ),
                ParamSpec(
                    "user",
                    doc="Pass if you want to assign an imported contact to the specific user ID.",
                ),
                ParamSpec(
                    "nextcall",
                    type="datetime",
                    doc=(
                        "Pass if you want to specify the date since the imported contacts should "
                        "be called."
                    ),
                ),
            ),
            required=("queue", "phonenumber"),
            idempotent=False,
        ),
        "DeleteRecord": ActionSpec(
            name="DeleteRecord",
            version="4.1",
            sections=("Forms",),
            summary="Deletes a record.",
            params=(ParamSpec("record", doc="Record's ID"),),
            required=("record",),
            idempotent=False,
        ),
        "ExportData": ActionSpec(
            name="ExportData",
            version="3.8",
            sections=("Forms",),
            summary="Exports form data from campaign by search fields.",
            params=(
                ParamSpec("queue", doc="Queue number where export is made"),
                ParamSpec(
                    "datetime_modify_from",
                    type="datetime",
                    doc=(
                        "Entry's last change is from this date and time. Format: YYYY-MM-DD "
                        "HH:MM:SS (If not specified, export all)"
                    ),
                ),
                ParamSpec(
                    "datetime_modify_to",
                    type="datetime",
                    doc=(
                        "Entry's last change is up to this date and time. Format: YYYY-MM-DD "
                        "HH:MM:SS (If not specified, export all)"
                    ),
                ),
                ParamSpec(
                    "datetime_nextcall_from",
                    type="datetime",
                    doc=(
                        "Entry's next call is from this date and time. Format: YYYY-MM-DD "
                        "HH:MM:SS (If not specified, export all)"
                    ),
                ),
                ParamSpec(
                    "datetime_nextcall_to",
                    type="datetime",
                    doc=(
                        "Entry's next call is up to this date and time. Format: YYYY-MM-DD "
                        "HH:MM:SS (If not specified, export all)"
                    ),
                ),
                ParamSpec(
                    "datetime_created_from",
                    type="datetime",
                    doc=(
                        "Entry's create is from this date and time. Format: YYYY-MM-DD HH:MM:SS "
                        "(If not specified, export all)"
                    ),
                ),
                ParamSpec(
                    "datetime_created_to",
                    type="datetime",
                    doc=(
                        "Entry's create is up to this date and time. Format: YYYY-MM-DD HH:MM:SS "
                        "(If not specified, export all)"
                    ),
                ),
                ParamSpec(
                    "actions",
                    type="list",
                    doc="Array od actions (If not specified, export all)",
                    choices=("0", "1", "2", "3", "4", "5", "6"),
                ),
                ParamSpec(
                    "callstatuses",
                    type="list",
                    doc="Array of ID calling states (If not specified, export all)",
                ),
                ParamSpec(
                    "agents", type="list", doc="Array if ID agents (If not specified, export all)"
                ),
                ParamSpec(
                    "phonenumber",
                    doc=(
                        "Phone number, which is in form's phone number (If not specified, export "
                        "all)"
                    ),
                ),
            ),
            required=("queue",),
            idempotent=True,
        ),
        "GetRecordAttempts": ActionSpec(
            name="GetRecordAttempts",
            version="4.1",
            sections=("Forms",),
            summary="Get record's answered and unanswered calls count",
            params=(ParamSpec("record", doc="record's ID"),),
            required=("record",),
            idempotent=True,
        ),
        "GetRecordSnapshots": ActionSpec(
            name="GetRecordSnapshots",
            version="4.1",
            sections=("Forms",),
            summary="Get record's snapshots.",
            params=(ParamSpec("record", doc="record's ID"),),
            required=("record",),
            idempotent=True,
        ),
        "GetRecords": ActionSpec(
            name="GetRecords",
            version="4.1",
            sections=("Forms",),
            summary="Gets records.",
            params=(
                ParamSpec("q", doc="Fulltext whisperer."),
                ParamSpec("filter", doc="Filter."),
                ParamSpec("sort", doc="Sort."),
                ParamSpec("skip", type="int", doc="Offset."),
                ParamSpec("take", type="int", doc="Limit."),
            ),
            idempotent=True,
        ),
        # Two actions under one name (Forms 3.8, Autodialer 4.0): merged here for call(),
        # each section's own form is in SECTION_FORMS below.
        "GetStatuses": ActionSpec(
            name="GetStatuses",
            version="3.8",
            sections=("Forms", "Autodialer"),
            summary="Return all defined statuses",
            params=(ParamSpec("queue", doc="Get info only for this queue name"),),
            idempotent=True,
            id="path",
        ),
        "MoveRecords": ActionSpec(
            name="MoveRecords",
            version="3.3",
            sections=("Forms",),
            summary=(
                "By the searched criteria it will filter records from the one campaign and move "
                "them to the other campaign. Moved records will be deleted from the original "
                "campaign."
            ),
            params=(
                ParamSpec(
                    "id",
                    doc=(
                        "ID of the record you want to move (you don't have to pass the mandatory "
                        "parameter src_queue)."
                    ),
                ),
                ParamSpec(
                    "src_queue",
                    doc=(
                        "A number of the queue you want to search for the items (you don't have "
                        "to pass the mandatory parameter id)."
                    ),
                ),
                ParamSpec(
                    "dst_queue",
                    doc="A number of the queue into which you want to move the searched items.",
                ),
                ParamSpec(
                    "search_datetime_modify_from",
                    type="datetime",
                    doc=(
                        "From which date and time to filter the last record's change in the "
                        "src_queue campaign."
                    ),
                ),
                ParamSpec(
                    "search_datetime_modify_to",
                    type="datetime",
                    doc=(
                        "To which date and time to filter the last record's change in the "
                        "src_queue campaign."
                    ),
                ),
                ParamSpec(
                    "search_datetime_nextcall_from",
                    type="datetime",
                    doc=(
                        "From which date and time to filter the scheduled calls in the src_queue "
                        "campaign."
                    ),
                ),
                ParamSpec(
                    "search_datetime_nextcall_to",
                    type="datetime",
                    doc=(
                        "To which date and time to filter the scheduled calls in the src_queue "
                        "campaign."
                    ),
                ),
                ParamSpec(
                    "search_datetime_created_from",
                    type="datetime",
                    doc=(
                        "From which date and time to filter the creation of record in the "
                        "src_queue campaign."
                    ),
                ),
                ParamSpec(
                    "search_datetime_created_to",
                    type="datetime",
                    doc=(
                        "To which date and time to filter the creation of record in the src_queue "
                        "campaign."
                    ),
                ),
                ParamSpec(
                    "update_action",
                    doc=(
                        "Action of the moved records (default unchanged): 0 free, 5 saved and "
                        "done, 6 scheduled for later"
                    ),
                    choices=("0", "5", "6"),
                ),
                ParamSpec(
                    "update_callstatus",
                    doc=(
                        "ID of state of the call for the moved records (default unchanged). Leave "
                        "empty to free the state."
                    ),
                ),
                ParamSpec(
                    "update_agent",
                    doc=(
                        "ID of user to assign the moved records to (default unchanged). Leave "
                        "empty to free the user."
                    ),
                ),
                ParamSpec(
                    "update_datetime_nextcall",
                    type="datetime",
                    doc="Pass to determine to which date and time to schedule a calls.",
                ),
            ),
            required=("dst_queue",),
            one_of=(("id", "src_queue"),),
            idempotent=False,
            id="query",
        ),
        "SimpleSearchContact": ActionSpec(
            name="SimpleSearchContact",
            version="3.2",
            sections=("Forms",),
            summary=(
                "Returns all contacts (with form structure), which corresponds to search filter."
            ),
            params=(
                ParamSpec("phonenumber", doc="MSISDN to search"),
                ParamSpec(
                    "queues", type="list", doc="array campaign numbers where search is executed"
                ),
            ),
            required=("phonenumber",),
            idempotent=True,
        ),
        "UpdateRecord": ActionSpec(
            name="UpdateRecord",
            version="4.1",
            sections=("Forms",),
            summary="Updates a record based on the input parameters.",
            params=(
                ParamSpec("record", doc="Record's ID"),
                ParamSpec("queue", doc="Queue's ID."),
                ParamSpec("phonenumber", doc="A phone number you want to update."),
                ParamSpec(
                    "fields",
                    type="dict",
                    doc=(
                        "An array of values of optional items you want to update. A key in the "
                        "array is an ID of the optional item."
                    ),
                ),
                ParamSpec(
                    "user",
                    doc=(
                        "Pass if you want to assign contact to the specific record. Leave this "
                        "parameter empty to free the user."
                    ),
                ),
                ParamSpec(
                    "status", doc="Statuses ID. Leave this parameter empty to free the status."
                ),
                ParamSpec(
                    "action",
                    doc=(
                        "if you want update action. Values: 0 - Free, 5 - Done, 6 - Action for "
                        "nextcall"
                    ),
                    choices=("0", "5", "6"),
                ),
                ParamSpec(
                    "nextcall",
                    type="datetime",
                    doc=(
                        "Pass if you want to specify the date since the imported contacts should "
                        "be called."
                    ),
                ),
            ),
            required=("record",),
            idempotent=False,
        ),
        "CreateEvent": ActionSpec(
            name="CreateEvent",
            version="3.8",
            sections=("Events",),
            summary=(
                "Create new event, which can be used at module Notification centre to bind to "
                "another activity"
            ),
            params=(
                ParamSpec("event", doc="Event name, must start with prefix Custom_"),
                ParamSpec(
                    "params",
                    type="dict",
                    doc=(
                        "Array of parameters for conditions and actions at Notification centre "
                        "module. Key in array is variable name."
                    ),
                ),
                ParamSpec(
                    "time",
                    doc=(
                        "Date and time when this event will be run. (Format is same as is used in "
                        "function strtotime)"
                    ),
                ),
            ),
            required=("event",),
            idempotent=False,
        ),
        "ActivityClose": ActionSpec(
            name="ActivityClose",
            version="4.0",
            sections=("Activities",),
            summary="Closes activity to defined state",
            params=(
                ParamSpec("activity", doc="Unique activity's name"),
                ParamSpec("status", doc="Unique state's name"),
            ),
            required=("activity", "status"),
            idempotent=False,
        ),
        "ActivityUpdate": ActionSpec(
            name="ActivityUpdate",
            version="4.0",
            sections=("Activities",),
            summary="Changes activity's to defined state",
            params=(
                ParamSpec("activities", type="list", doc="Unique activity's name"),
                ParamSpec("status", doc="Unique state name"),
            ),
            required=("activities", "status"),
            idempotent=False,
        ),
        "CheckNumber": ActionSpec(
            name="CheckNumber",
            version="4.0",
            sections=("Autodialer",),
            summary="Checks number in autodialer and returns status",
            params=(
                ParamSpec(
                    "number",
                    doc="Phone number to check (used by the example, not listed)",
                    documented=False,
                ),
            ),
            required=("number",),
            idempotent=True,
        ),
        "EmailCreate": ActionSpec(
            name="EmailCreate",
            version="4.1",
            sections=("Emails",),
            summary="Creates email",
            params=(
                ParamSpec("queue", doc="Queue number"),
                ParamSpec("subject", doc="Subject"),
                ParamSpec("from", doc="Sender"),
                ParamSpec("body", doc="Body (HTML/plaintext)"),
                ParamSpec("user", doc="User's login"),
                ParamSpec("name", doc="Unique identifier of the email"),
            ),
            required=("queue", "subject", "from", "body"),
            idempotent=False,
        ),
    }
)

#: The forms of an action that differ from one section to another, by (section, action).
#:
#: One name can be two different actions: the Forms ``GetStatuses`` (3.8: call statuses,
#: ``id`` and ``queue``) and the Autodialer ``GetStatuses`` (4.0: number-check statuses, no
#: parameters, another answer). :data:`ACTIONS` merges them, so that ``client.call()``
#: knows the name; the typed method of each section (``client.forms.get_statuses``,
#: ``client.autodialer.get_statuses``) sends that section's own form, at its own version.
SECTION_FORMS: Final[Mapping[tuple[str, str], ActionSpec]] = types.MappingProxyType(
    {
        ("Forms", "GetStatuses"): attrs.evolve(ACTIONS["GetStatuses"], sections=("Forms",)),
        ("Autodialer", "GetStatuses"): ActionSpec(
            name="GetStatuses",
            version="4.0",
            sections=("Autodialer",),
            summary="Return statuses for checking numbers",
            idempotent=True,
        ),
    }
)


def section_spec(section: str, action: str) -> ActionSpec:
    """The form of *action* that *section* documents (its own when it has one)."""
    return SECTION_FORMS.get((section, action)) or ACTIONS[action]

"""Plaintext messages and protocol messages as ``dict``: builders and parsers over the core's
protocol modules (Basic Message, Trust Ping, Report Problem, Out-of-Band, Coordinate Mediation,
Message Pickup, Discover Features, Routing, Empty)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Optional, Sequence, Union, cast

from ._engine import MessageLike, to_dict, to_text
from ._errors import DidCommError
from ._native import didcomm_edge as _ffi

BasicMessage = _ffi.BasicMessage
ProblemReport = _ffi.ProblemReport
Forward = _ffi.Forward


def _headers(headers: Optional["dict[str, Any]"]) -> Optional[str]:
    return None if headers is None else to_text(headers, "headers")


def create_message(
    message_type: str,
    body: Optional["dict[str, Any]"] = None,
    headers: Optional["dict[str, Any]"] = None,
) -> "dict[str, Any]":
    """A new plaintext message: a random ``id``, ``typ``, ``created_time`` now, the given type
    and body, and any other ``headers`` (``from``, ``to``, ``thid``, custom ones)."""
    text_body = None if body is None else to_text(body, "the body")
    return to_dict(_ffi.create_message(message_type, text_body, _headers(headers)))


def reply_to(request: MessageLike, reply: MessageLike) -> "dict[str, Any]":
    """``reply`` threaded to ``request``, addressed to its sender, acknowledging what it asked
    to have acknowledged."""
    return to_dict(_ffi.reply_to(to_text(request, "the request"), to_text(reply, "the reply")))


def pure_ack(ids: Sequence[str]) -> Optional["dict[str, Any]"]:
    """An empty message acknowledging ``ids``; ``None`` when there is nothing to acknowledge."""
    text = _ffi.pure_ack(list(ids))
    return None if text is None else to_dict(text)


def basic_message(
    content: str, *, lang: Optional[str] = None, headers: Optional["dict[str, Any]"] = None
) -> "dict[str, Any]":
    """A Basic Message 2.0 text message."""
    return to_dict(_ffi.basic_message(BasicMessage(content=content, lang=lang), _headers(headers)))


def parse_basic_message(message: MessageLike) -> BasicMessage:
    """Read a basic message."""
    return _ffi.parse_basic_message(to_text(message, "the message"))


def trust_ping(
    *, response_requested: bool = True, headers: Optional["dict[str, Any]"] = None
) -> "dict[str, Any]":
    """A Trust Ping 2.0 ``ping``."""
    return to_dict(_ffi.trust_ping(response_requested, _headers(headers)))


def trust_ping_response(
    ping: MessageLike, *, headers: Optional["dict[str, Any]"] = None
) -> Optional["dict[str, Any]"]:
    """The ``ping-response`` to a ``ping``, or ``None`` when it asked for none."""
    text = _ffi.trust_ping_response(to_text(ping, "the ping"), _headers(headers))
    return None if text is None else to_dict(text)


def problem_report(
    code: str,
    pthid: str,
    *,
    comment: Optional[str] = None,
    args: Sequence[str] = (),
    escalate_to: Optional[str] = None,
    ack: Sequence[str] = (),
    headers: Optional["dict[str, Any]"] = None,
) -> "dict[str, Any]":
    """A Report Problem 2.0 problem report about the thread ``pthid``."""
    report = ProblemReport(
        code=code,
        pthid=pthid,
        comment=comment,
        args=list(args),
        escalate_to=escalate_to,
        ack=list(ack),
        interpolated_comment=None,
    )
    return to_dict(_ffi.problem_report(report, _headers(headers)))


def parse_problem_report(message: MessageLike) -> ProblemReport:
    """Read a problem report (``interpolated_comment`` has the arguments filled in)."""
    return _ffi.parse_problem_report(to_text(message, "the message"))


def problem_report_for_error(
    error: DidCommError, message: MessageLike, *, headers: Optional["dict[str, Any]"] = None
) -> "dict[str, Any]":
    """A problem report about a received ``message`` for one of our own errors: the code
    follows the error's kind, the comment is the code's standard text (never the reason)."""
    return to_dict(
        _ffi.problem_report_for_error(cast(Any, error), to_text(message, "the message"), _headers(headers))
    )


def oob_invitation(
    from_: str,
    *,
    goal_code: Optional[str] = None,
    goal: Optional[str] = None,
    attachments: Sequence[MessageLike] = (),
) -> "dict[str, Any]":
    """An Out-of-Band 2.0 invitation from ``from_``, with request messages attached."""
    attached = [to_text(m, "an attachment") for m in attachments]
    return to_dict(_ffi.oob_invitation(from_, goal_code, goal, attached))


def oob_invitation_url(invitation: MessageLike, base: str) -> str:
    """``base`` with the invitation in its ``_oob`` query parameter."""
    return _ffi.oob_invitation_url(to_text(invitation, "the invitation"), base)


def oob_invitation_from_url(url: str) -> "dict[str, Any]":
    """The invitation in a URL's ``_oob`` parameter."""
    return to_dict(_ffi.oob_invitation_from_url(url))


def oob_attached_messages(invitation: MessageLike) -> "list[dict[str, Any]]":
    """The request messages attached to an invitation, in order of preference."""
    return [to_dict(m) for m in _ffi.oob_attached_messages(to_text(invitation, "the invitation"))]


def oob_reply(invitation: MessageLike, reply: MessageLike) -> "dict[str, Any]":
    """``reply`` made the first message of the thread the invitation starts."""
    return to_dict(_ffi.oob_reply(to_text(invitation, "the invitation"), to_text(reply, "the reply")))


def forward_message(forward: Forward) -> "dict[str, Any]":
    """The plaintext ``forward`` message for ``forward``."""
    return to_dict(_ffi.forward_message(forward))


def parse_forward(message: MessageLike) -> Forward:
    """Read a plaintext ``forward`` message."""
    return _ffi.parse_forward(to_text(message, "the message"))


@dataclass(frozen=True)
class ProtocolMessage:
    """A protocol message read by :func:`parse_protocol_message`."""

    message_type: str
    """The message type URI."""
    protocol: str
    """The protocol identifier (PIURI)."""
    fields: "dict[str, Any]"
    """The content in the core's typed form: valid ``fields`` for :func:`build_protocol_message`."""


def protocol_message_types() -> "list[str]":
    """Every message type :func:`build_protocol_message` and :func:`parse_protocol_message`
    know."""
    return list(_ffi.protocol_message_types())


def build_protocol_message(
    message_type: str,
    fields: Union[str, "dict[str, Any]"],
    headers: Optional["dict[str, Any]"] = None,
) -> "dict[str, Any]":
    """A message of ``message_type`` from its typed form ``fields`` (the type URI picks the
    protocol version), plus ``headers``."""
    return to_dict(
        _ffi.build_protocol_message(message_type, to_text(fields, "the fields"), _headers(headers))
    )


def parse_protocol_message(message: MessageLike) -> ProtocolMessage:
    """Read a protocol message into its typed form, validating its body."""
    parsed = _ffi.parse_protocol_message(to_text(message, "the message"))
    return ProtocolMessage(parsed.message_type, parsed.protocol, json.loads(parsed.fields))

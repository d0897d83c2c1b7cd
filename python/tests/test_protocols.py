"""Plaintext messages, protocol builders and parsers, routing and forwards."""

from __future__ import annotations

import json

import pytest

import didcomm_edge as de
from conftest import make_party, new_message, wallet_of

BASIC = "https://didcomm.org/basicmessage/2.0/message"


def test_create_message_fills_id_typ_and_created_time() -> None:
    m = de.create_message(BASIC, {"content": "hi"}, {"from": "did:example:a", "to": ["did:example:b"], "x-extra": [1]})
    assert m["type"] == BASIC and m["body"] == {"content": "hi"}
    assert m["typ"] == "application/didcomm-plain+json"
    assert len(m["id"]) == 36 and isinstance(m["created_time"], int)
    assert m["from"] == "did:example:a" and m["x-extra"] == [1]
    assert de.create_message("t")["body"] == {}
    with pytest.raises(de.DidCommError.IllegalArgument):
        de.create_message("t", headers={"type": "u"})
    with pytest.raises(de.DidCommError.Malformed):
        de.create_message("t", headers={"to": "not-a-list"})


def test_basic_message() -> None:
    m = de.basic_message("hello", lang="en", headers={"from": "did:example:a"})
    assert m["body"] == {"content": "hello"} and m["lang"] == "en" and m["from"] == "did:example:a"
    parsed = de.parse_basic_message(m)
    assert (parsed.content, parsed.lang) == ("hello", "en")
    with pytest.raises(de.DidCommError.Malformed):
        de.parse_basic_message(de.create_message(BASIC, {}))


def test_trust_ping_and_its_response() -> None:
    ping = de.trust_ping(headers={"from": "did:example:a", "to": ["did:example:b"]})
    response = de.trust_ping_response(ping, headers={"from": "did:example:b"})
    assert response is not None
    assert response["type"] == "https://didcomm.org/trust-ping/2.0/ping-response"
    assert response["thid"] == ping["id"] and response["to"] == ["did:example:a"]
    assert de.trust_ping_response(de.trust_ping(response_requested=False)) is None


def test_problem_reports() -> None:
    report = de.problem_report("e.p.xfer.cant-use-endpoint", "thread-1", comment="Cannot reach {1}", args=["https://x"])
    parsed = de.parse_problem_report(report)
    assert parsed.code == "e.p.xfer.cant-use-endpoint" and parsed.pthid == "thread-1"
    assert parsed.interpolated_comment == "Cannot reach https://x"
    with pytest.raises(de.DidCommError.IllegalArgument):
        de.problem_report("Not A Code", "t")
    received = de.create_message(BASIC, {"content": "x"}, {"from": "did:example:a"})
    answer = de.problem_report_for_error(de.DidCommError.DecryptionFailed("secret detail"), received)
    assert answer["body"]["code"] == "e.p.trust.crypto"
    assert "secret detail" not in json.dumps(answer)
    assert answer["pthid"] == received["id"] and answer["to"] == ["did:example:a"]


def test_out_of_band_invitations() -> None:
    request = de.trust_ping()
    invitation = de.oob_invitation("did:example:mediator", goal_code="connect", goal="Talk", attachments=[request])
    url = de.oob_invitation_url(invitation, "https://example.com/invite")
    assert url.startswith("https://example.com/invite?_oob=")
    back = de.oob_invitation_from_url(url)
    assert back["id"] == invitation["id"] and back["body"]["goal_code"] == "connect"
    assert de.oob_attached_messages(back) == [request]
    reply = de.oob_reply(back, de.basic_message("hi"))
    assert reply["pthid"] == invitation["id"] and reply["to"] == ["did:example:mediator"]
    with pytest.raises(de.DidCommError.Unsupported):
        de.oob_invitation_from_url("https://example.com/?_oobid=abc")


def test_threading_and_acks() -> None:
    request = de.create_message(BASIC, {"content": "q"}, {"from": "did:example:a", "please_ack": [""]})
    reply = de.reply_to(request, de.basic_message("a"))
    assert reply["thid"] == request["id"] and reply["to"] == ["did:example:a"]
    assert reply["ack"] == [request["id"]]
    ack = de.pure_ack(["1", "2"])
    assert ack is not None and ack["ack"] == ["1", "2"]
    assert de.pure_ack([]) is None


# Typed forms for every message type the generic builder knows (the README lists them).
SAMPLES = {
    "https://didcomm.org/basicmessage/2.0/message": {"content": "hi"},
    "https://didcomm.org/trust-ping/2.0/ping": {"response_requested": True},
    "https://didcomm-edge.org/push/1.0/set-target": {"platform": "fcm", "token": "t-1"},
    "https://didcomm-edge.org/push/1.0/get-target": {},
    "https://didcomm-edge.org/push/1.0/remove-target": {},
    "https://didcomm-edge.org/push/1.0/target": {"platform": "apns", "token": "00ff"},
    "https://didcomm.org/trust-ping/2.0/ping-response": {"thid": "t-1"},
    "https://didcomm.org/report-problem/2.0/problem-report": {"code": "e.p.me", "pthid": "t-1"},
    "https://didcomm.org/message-pickup/4.0/problem-report": {"code": "e.m.live-mode-not-supported", "pthid": "t-1"},
    "https://didcomm.org/discover-features/2.0/queries": {"queries": [{"feature_type": "protocol", "match_": "https://didcomm.org/*"}]},
    "https://didcomm.org/discover-features/2.0/disclose": {"disclosures": [{"feature_type": "protocol", "id": "https://didcomm.org/trust-ping/2.0", "roles": ["receiver"]}]},
    "https://didcomm.org/empty/1.0/empty": {},
    "https://didcomm.org/out-of-band/2.0/invitation": {"from": "did:example:a", "goal_code": "connect"},
    "https://didcomm.org/routing/2.0/forward": {"next": "did:example:b", "messages": ['{"protected":"x","ciphertext":"y"}']},
    "https://didcomm.org/coordinate-mediation/2.0/mediate-request": {},
    "https://didcomm.org/coordinate-mediation/3.0/mediate-request": {},
    "https://didcomm.org/coordinate-mediation/2.0/mediate-grant": {"routing_did": ["did:example:m"]},
    "https://didcomm.org/coordinate-mediation/3.0/mediate-grant": {"routing_did": ["did:example:m"]},
    "https://didcomm.org/coordinate-mediation/2.0/mediate-deny": {},
    "https://didcomm.org/coordinate-mediation/3.0/mediate-deny": {},
    "https://didcomm.org/coordinate-mediation/2.0/keylist-update": {"updates": [{"recipient_did": "did:example:a", "action": "add"}]},
    "https://didcomm.org/coordinate-mediation/3.0/recipient-update": {"updates": [{"recipient_did": "did:example:a", "action": "remove"}]},
    "https://didcomm.org/coordinate-mediation/2.0/keylist-update-response": {"updated": [{"recipient_did": "did:example:a", "action": "add", "result": "success"}]},
    "https://didcomm.org/coordinate-mediation/3.0/recipient-update-response": {"updated": [{"recipient_did": "did:example:a", "action": "add", "result": "no_change"}]},
    "https://didcomm.org/coordinate-mediation/2.0/keylist-query": {"paginate": {"limit": 5, "offset": 0}},
    "https://didcomm.org/coordinate-mediation/3.0/recipient-query": {},
    "https://didcomm.org/coordinate-mediation/2.0/keylist": {"dids": ["did:example:a"]},
    "https://didcomm.org/coordinate-mediation/3.0/recipient": {"dids": ["did:example:a"], "pagination": {"count": 1, "offset": 0, "remaining": 0}},
    "https://didcomm.org/messagepickup/3.0/status-request": {"recipient_did": "did:example:a"},
    "https://didcomm.org/message-pickup/4.0/status-request": {},
    "https://didcomm.org/messagepickup/3.0/status": {"message_count": 3, "longest_waited_seconds": 10},
    "https://didcomm.org/message-pickup/4.0/status": {"message_count": 0, "live_delivery": False},
    "https://didcomm.org/messagepickup/3.0/delivery-request": {"limit": 10},
    "https://didcomm.org/message-pickup/4.0/delivery-request": {"limit": 10},
    "https://didcomm.org/messagepickup/3.0/delivery": {"messages": [{"id": "q-1", "message": '{"ciphertext":"x"}'}]},
    "https://didcomm.org/message-pickup/4.0/delivery": {"messages": [{"id": "q-1", "message": '{"ciphertext":"x"}'}], "form": "Json"},
    "https://didcomm.org/messagepickup/3.0/messages-received": {"message_id_list": ["q-1"]},
    "https://didcomm.org/message-pickup/4.0/messages-received": {"message_id_list": ["q-1"]},
    "https://didcomm.org/messagepickup/3.0/live-delivery-change": {"live_delivery": True},
    "https://didcomm.org/message-pickup/4.0/live-delivery-change": {"live_delivery": False},
}


def test_every_known_type_has_a_sample() -> None:
    assert sorted(SAMPLES) == sorted(de.protocol_message_types())


@pytest.mark.parametrize("message_type", sorted(SAMPLES))
def test_build_then_parse_gives_the_fields_back(message_type: str) -> None:
    fields = SAMPLES[message_type]
    message = de.build_protocol_message(message_type, fields, {"from": "did:example:a"})
    assert message["type"] == message_type and message["from"] == "did:example:a"
    parsed = de.parse_protocol_message(json.dumps(message))
    assert parsed.message_type == message_type
    assert message_type.startswith(parsed.protocol + "/")
    for name, value in fields.items():
        if name == "messages" and message_type.endswith("/forward"):
            # Forwarded messages are JSON objects: the same object, maybe in another member order.
            assert [json.loads(m) for m in parsed.fields[name]] == [json.loads(m) for m in value]
        elif name == "messages" and fields.get("form") == "Json":
            # Attached as JSON, a message reads back as the text it was attached as: here, as
            # json.dumps above wrote it (byte-preserving delivery), the same object.
            assert [m["id"] for m in parsed.fields[name]] == [m["id"] for m in value]
            texts = [m["message"] for m in parsed.fields[name]]
            assert texts == [json.dumps(json.loads(m["message"])) for m in value]
        else:
            assert parsed.fields[name] == value, name
    # The parsed form builds the same body again.
    again = de.build_protocol_message(message_type, parsed.fields)
    assert again.get("body") == message.get("body")


def test_requests_that_need_an_answer_ask_for_return_route() -> None:
    for message_type in (
        "https://didcomm.org/messagepickup/3.0/delivery-request",
        "https://didcomm.org/coordinate-mediation/3.0/mediate-request",
    ):
        assert de.build_protocol_message(message_type, SAMPLES[message_type])["return_route"] == "all"


def test_generic_builder_and_parser_errors() -> None:
    with pytest.raises(de.DidCommError.Unsupported):
        de.build_protocol_message("https://example.com/p/1.0/x", {})
    with pytest.raises(de.DidCommError.Unsupported):
        de.parse_protocol_message(de.create_message("https://example.com/p/1.0/x"))
    with pytest.raises(de.DidCommError.Malformed):
        de.build_protocol_message("https://didcomm.org/messagepickup/3.0/delivery-request", {"limit": "ten"})
    with pytest.raises(de.DidCommError.Malformed):
        de.parse_protocol_message(de.create_message("https://didcomm.org/messagepickup/3.0/status", {}))


# ---------------------------------------------------------------------------------------------
# Routing

ALICE = make_party("alice", ka=["X25519"], sign=["Ed25519"])
MEDIATOR = make_party("mediator", ka=["X25519", "P-256"], sign=[])
BOB = make_party("bob", ka=["X25519"], sign=[])
MEDIATOR.doc["service"] = [
    {"id": "#didcomm", "type": "DIDCommMessaging", "serviceEndpoint": {"uri": "https://mediator.example/didcomm", "accept": ["didcomm/v2"]}}
]
BOB.doc["service"] = [
    {"id": "#didcomm", "type": "DIDCommMessaging", "serviceEndpoint": {"uri": MEDIATOR.did, "accept": ["didcomm/v2"]}}
]


def test_route_through_a_mediator_named_by_did_and_unwrap_at_each_hop() -> None:
    alice = wallet_of(ALICE, MEDIATOR, BOB).did_comm()
    mediator = wallet_of(MEDIATOR, ALICE, BOB).did_comm()
    bob = wallet_of(BOB, ALICE, MEDIATOR).did_comm()
    msg = new_message(ALICE.did, BOB.did)
    packed = alice.pack_encrypted_blocking(msg, BOB.did, from_=ALICE.did)
    route = alice.resolve_route_blocking(BOB.did)
    assert route.uri == "https://mediator.example/didcomm" and route.hops == [MEDIATOR.did]
    routed = alice.route_blocking(packed.packed, BOB.did, enc_alg_anon=de.ContentEncryption.XC20P)
    assert routed.uri == route.uri and routed.hops == [MEDIATOR.did]
    opened = mediator.unwrap_forward_blocking(routed.message)
    assert opened.forward.next == BOB.did and opened.metadata.anonymous_sender
    assert opened.metadata.enc_alg_anon == "ECDH-ES+A256KW/XC20P"
    assert len(opened.forward.messages) == 1
    assert bob.unpack_blocking(opened.forward.messages[0]).message == msg


def test_wrapping_along_explicit_hops_and_forward_messages() -> None:
    alice = wallet_of(ALICE, MEDIATOR, BOB).did_comm()
    bob = wallet_of(BOB, ALICE, MEDIATOR).did_comm()
    packed = alice.pack_encrypted_blocking(new_message(ALICE.did, BOB.did), BOB.did).packed
    assert alice.wrap_in_forward_blocking(packed, BOB.did, []) == packed
    wrapped = alice.wrap_in_forward_blocking(packed, BOB.did, [MEDIATOR.ka_kids["P-256"]])
    forward = de.parse_forward(wallet_of(MEDIATOR).did_comm().unpack_blocking(wrapped).message)
    assert forward.next == BOB.did
    # A forward re-wrapped to the recipient itself is opened by unpack.
    rewrapped = alice.wrap_in_forward_blocking(packed, BOB.did, [BOB.did])
    result = bob.unpack_blocking(rewrapped)
    assert result.metadata.re_wrapped_in_forward
    plain = de.forward_message(de.Forward(next=BOB.did, messages=[packed]))
    assert [json.loads(m) for m in de.parse_forward(plain).messages] == [json.loads(packed)]
    with pytest.raises(de.DidCommError.IllegalArgument):
        alice.wrap_in_forward_blocking(alice.pack_plaintext(new_message(ALICE.did, BOB.did)), BOB.did, [MEDIATOR.did])

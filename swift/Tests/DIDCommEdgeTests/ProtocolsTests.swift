import Foundation
import XCTest

@testable import DIDCommEdge

/// Builders and parsers, forwards and routes.
final class ProtocolsTests: XCTestCase {
    func testMessagesAndTheTypedHelpers() throws {
        let m = try parse(try createMessage(
            messageType: "https://didcomm.org/basicmessage/2.0/message", body: #"{"content":"hi"}"#,
            headers: #"{"from":"did:example:a"}"#))
        XCTAssertEqual(m["from"] as? String, "did:example:a")
        XCTAssertEqual((m["id"] as? String)?.count, 36)
        let basic = try basicMessage(message: BasicMessage(content: "hello", lang: "en"), headers: #"{"to":["did:example:b"]}"#)
        XCTAssertEqual(try parseBasicMessage(message: basic), BasicMessage(content: "hello", lang: "en"))
        let ping = try trustPing(responseRequested: true, headers: #"{"from":"did:example:a"}"#)
        let response = try parse(try XCTUnwrap(try trustPingResponse(ping: ping)))
        XCTAssertEqual(response["thid"] as? String, try parse(ping)["id"] as? String)
        XCTAssertNil(try trustPingResponse(ping: try trustPing(responseRequested: false)))
        let report = try problemReport(report: ProblemReport(
            code: "e.p.xfer.cant-use-endpoint", pthid: "t-1", comment: "Cannot reach {1}", args: ["https://x"]))
        XCTAssertEqual(try parseProblemReport(message: report).interpolatedComment, "Cannot reach https://x")
        let invitation = try oobInvitation(from: "did:example:m", goalCode: "connect", attachments: [ping])
        let url = try oobInvitationUrl(invitation: invitation, base: "https://example.com/invite")
        XCTAssertTrue(try sameJSON(try oobInvitationFromUrl(url: url), try parse(invitation)))
        XCTAssertEqual(try oobAttachedMessages(invitation: invitation).count, 1)
    }

    func testEveryProtocolMessageTypeBuildsAndParses() throws {
        XCTAssertGreaterThanOrEqual(protocolMessageTypes().count, 36)
        let request = try buildProtocolMessage(
            messageType: "https://didcomm.org/messagepickup/3.0/delivery-request", fields: #"{"limit":10}"#,
            headers: #"{"from":"did:example:a"}"#)
        XCTAssertEqual(try parse(request)["return_route"] as? String, "all")
        let parsed = try parseProtocolMessage(message: request)
        XCTAssertEqual(parsed.protocol, "https://didcomm.org/messagepickup/3.0")
        XCTAssertEqual(try parse(parsed.fields)["limit"] as? Int, 10)
        XCTAssertThrowsError(try buildProtocolMessage(messageType: "https://example.com/x/1.0/y", fields: "{}")) { error in
            XCTAssertEqual(caseName(error), "Unsupported")
        }
    }

    func testRouteThroughAMediatorAndUnwrapTheForward() throws {
        let alice = Party("alice", ka: ["X25519"], sign: [])
        let mediator = Party("mediator", ka: ["X25519"], sign: [])
        let bob = Party("bob", ka: ["X25519"], sign: [])
        mediator.doc["service"] = [["id": "#didcomm", "type": "DIDCommMessaging",
                                    "serviceEndpoint": ["uri": "https://mediator.example", "accept": ["didcomm/v2"]]]]
        bob.doc["service"] = [["id": "#didcomm", "type": "DIDCommMessaging", "serviceEndpoint": ["uri": mediator.did]]]
        let sender = try alice.wallet(mediator, bob).didComm()
        let msg = try newMessage(from: alice.did, to: bob.did)
        let packed = try sender.packEncryptedBlocking(message: msg, to: bob.did, options: PackEncryptedOptions(from: alice.did))
        let routed = try sender.routeBlocking(packed: packed.packed, to: bob.did)
        XCTAssertEqual(routed.uri, "https://mediator.example")
        XCTAssertEqual(routed.hops, [mediator.did])
        let opened = try mediator.wallet(alice, bob).didComm().unwrapForwardBlocking(packed: routed.message)
        XCTAssertEqual(opened.forward.next, bob.did)
        let result = try bob.wallet(alice, mediator).didComm().unpackBlocking(packed: try XCTUnwrap(opened.forward.messages.first))
        XCTAssertTrue(try sameJSON(result.message, try parse(msg)))
    }
}

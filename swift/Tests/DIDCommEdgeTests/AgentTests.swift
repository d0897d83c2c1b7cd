#if os(macOS)
import Foundation
import XCTest

@testable import DIDCommEdge

/// The edge agent (async methods) against a real mediator process on 127.0.0.1, mirroring
/// python/tests/test_agent.py: two devices connect from the invitation, send through the
/// mediator, pick up, receive live, rotate; a closed port is a typed `Unreachable`.
final class AgentTests: XCTestCase {
    var dataDir: URL!
    var port = 0
    var process: Process?
    var invitation = ""
    var mediatorDid = ""

    override func setUpWithError() throws {
        dataDir = FileManager.default.temporaryDirectory.appendingPathComponent("didcomm-edge-agent-\(UUID().uuidString)")
        port = Int.random(in: 20_000..<60_000)
    }

    override func tearDown() {
        if let p = process {
            p.terminate()
            p.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: dataDir)
    }

    private func start() throws {
        let path = ProcessInfo.processInfo.environment["DIDCOMM_EDGE_MEDIATOR"]
            ?? repoRoot.appendingPathComponent("target/debug/didcomm-edge-mediator").path
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: path), "build the mediator first")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = ["--listen", "127.0.0.1:\(port)", "--data-dir", dataDir.path, "--no-qr", "--admin-listen", "off"]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        process = p
        var banner = ""
        let deadline = Date().addingTimeInterval(20)
        while !banner.contains("listening on "), Date() < deadline {
            banner += String(decoding: out.fileHandleForReading.availableData, as: UTF8.self)
        }
        for line in banner.split(separator: "\n") {
            if line.hasPrefix("mediator DID: ") { mediatorDid = String(line.dropFirst("mediator DID: ".count)) }
            if line.hasPrefix("invitation: ") { invitation = String(line.dropFirst("invitation: ".count)) }
        }
        XCTAssertTrue(invitation.hasPrefix("http"), "the mediator printed no invitation")
    }

    private func agent() throws -> EdgeAgent {
        try EdgeAgent(config: AgentConfig(requestTimeoutMs: 5_000, retryAttempts: 2))
    }

    private func pickupOne(_ device: EdgeAgent) async throws -> ReceivedMessage {
        let deadline = Date().addingTimeInterval(20)
        while true {
            let batch = try await device.pickup()
            let messages = batch.messages()
            if let first = messages.first {
                XCTAssertEqual(messages.count, 1)
                _ = try await batch.acknowledge()
                return first
            }
            XCTAssertLessThan(Date(), deadline, "nothing arrived")
            try await Task.sleep(nanoseconds: 50_000_000)
        }
    }

    func testTwoAgentsConnectSendPickUpReceiveLiveAndRotate() async throws {
        try start()
        let alice = try agent()
        let bob = try agent()
        let connection = try await alice.connect(invitation: invitation)
        XCTAssertEqual(connection.mediatorDid, mediatorDid)
        XCTAssertTrue(connection.newlyGranted)
        _ = try await bob.connect(invitation: invitation)
        let aliceDid = try XCTUnwrap(try alice.did())
        let bobDid = try XCTUnwrap(try bob.did())
        XCTAssertTrue(try await bob.keylist().contains(bobDid))

        let sent = try await alice.send(to: bobDid, message: try basicMessage(message: BasicMessage(content: "hello Bob", lang: nil), headers: nil))
        XCTAssertEqual(sent.hops, [mediatorDid])
        let received = try await pickupOne(bob)
        XCTAssertEqual(try parse(received.message)["id"] as? String, sent.id)
        XCTAssertEqual(received.sender, aliceDid)
        XCTAssertTrue(received.metadata.authenticated)
        XCTAssertEqual(try parseBasicMessage(message: received.message).content, "hello Bob")
        XCTAssertEqual(try await bob.status(recipientDid: nil).messageCount, 0)

        // Live delivery.
        let live = try await bob.live()
        try await live.waitLive(timeoutMs: 20_000)
        XCTAssertEqual(live.state(), .live)
        let pushed = try await alice.send(to: bobDid, message: try basicMessage(message: BasicMessage(content: "pushed", lang: nil), headers: nil))
        let event = try await live.recv()
        let message = try XCTUnwrap(event.message)
        XCTAssertEqual(try parse(message.message)["id"] as? String, pushed.id)
        XCTAssertEqual(try await live.ack(queueId: event.queueId).ids, [event.queueId])
        await live.stop()
        do {
            _ = try await live.recv()
            XCTFail("a closed stream returned a message")
        } catch DidCommError.Closed {}

        // Rotation, then a message that announces it.
        let rotated = try await bob.rotate()
        XCTAssertEqual(rotated.priorDid, bobDid)
        _ = try await bob.send(to: aliceDid, message: try basicMessage(message: BasicMessage(content: "I moved", lang: nil), headers: nil))
        let moved = try await pickupOne(alice)
        XCTAssertEqual(moved.sender, rotated.newDid)
        XCTAssertEqual(moved.rotatedFrom, bobDid)
        XCTAssertEqual(try alice.peerDid(did: bobDid), rotated.newDid)
        XCTAssertNil(moved.endedRelationship)

        // Alice ends the relationship: anoncrypt, no `from`, from_prior without `sub`.
        _ = try await alice.endRelationship(peer: rotated.newDid)
        let ended = try await pickupOne(bob)
        XCTAssertEqual(ended.endedRelationship, aliceDid)
        XCTAssertNil(ended.sender)
        XCTAssertFalse(ended.metadata.authenticated)
        let claims = try XCTUnwrap(ended.metadata.fromPrior)
        XCTAssertEqual(claims.iss, aliceDid)
        XCTAssertNil(claims.sub)
    }

    func testAnUnreachableMediatorIsATypedError() async throws {
        let nowhere = try generateIdentity(method: .peer2, service: DidCommService(uri: "http://127.0.0.1:9/didcomm", routingKeys: []))
        let device = try agent()
        do {
            _ = try await device.connect(invitation: nowhere.did)
            XCTFail("connected to a closed port")
        } catch DidCommError.Unreachable(let reason) {
            XCTAssertTrue(reason.contains("attempts"), reason)
        }
        do {
            _ = try await device.pickup()
            XCTFail("picked up without a mediator")
        } catch DidCommError.NotConnected {}
    }
}
#endif

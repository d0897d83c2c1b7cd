#if os(macOS)
import Foundation
import XCTest

@testable import DIDCommEdge

/// The edge flow against a real mediator process on 127.0.0.1 (macOS: the tests start
/// `target/debug/didcomm-edge-mediator`, or `DIDCOMM_EDGE_MEDIATOR`): route through the
/// mediator, pick up with Message Pickup 3.0 over HTTP, then a live push over a WebSocket.
/// Mediation is not wired into the mediator on main yet: the device's grant is written into
/// its SQLite database (with /usr/bin/sqlite3) between two starts.
final class EdgeFlowTests: XCTestCase {
    let pickup = "https://didcomm.org/messagepickup/3.0"
    var dataDir: URL!
    var port = 0
    var url: String { "http://127.0.0.1:\(port)" }
    var process: Process?
    var mediatorDid = ""

    override func setUpWithError() throws {
        dataDir = FileManager.default.temporaryDirectory.appendingPathComponent("didcomm-edge-\(UUID().uuidString)")
        port = Int.random(in: 20_000..<60_000)
    }

    override func tearDown() {
        stop()
        try? FileManager.default.removeItem(at: dataDir)
    }

    private func binary() throws -> URL {
        let path = ProcessInfo.processInfo.environment["DIDCOMM_EDGE_MEDIATOR"]
            ?? repoRoot.appendingPathComponent("target/debug/didcomm-edge-mediator").path
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: path), "build the mediator first")
        return URL(fileURLWithPath: path)
    }

    private func start(pinned: URL) throws {
        let p = Process()
        p.executableURL = try binary()
        p.arguments = ["--listen", "127.0.0.1:\(port)", "--data-dir", dataDir.path, "--pinned-did-docs", pinned.path, "--no-qr", "--admin-listen", "off"]
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
        XCTAssertTrue(banner.contains("listening on "), "the mediator did not start")
        for line in banner.split(separator: "\n") where line.hasPrefix("mediator DID: ") {
            mediatorDid = String(line.dropFirst("mediator DID: ".count))
        }
    }

    private func stop() {
        guard let p = process else { return }
        p.terminate()
        p.waitUntilExit()
        process = nil
    }

    private func sqlite(_ statement: String) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        p.arguments = [dataDir.appendingPathComponent("mediator.sqlite").path, statement]
        try p.run()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
    }

    private func post(_ packed: String) async throws -> (Int, String) {
        var request = URLRequest(url: URL(string: "\(url)/didcomm")!)
        request.httpMethod = "POST"
        request.setValue("application/didcomm-encrypted+json", forHTTPHeaderField: "Content-Type")
        request.httpBody = Data(packed.utf8)
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
    }

    func testRoutePickUpThenLiveDelivery() async throws {
        _ = try binary()
        let pinned = dataDir.appendingPathExtension("pinned.json")
        let sender = try generateIdentity(method: .peer2)
        try Data(try text(["did_docs": [try parse(sender.document)]]).utf8).write(to: pinned)
        try start(pinned: pinned)
        stop()
        let wallet = try parse(try String(contentsOf: dataDir.appendingPathComponent("mediator-identity.json"), encoding: .utf8))
        let mediatorDoc = try XCTUnwrap((wallet["did_docs"] as? [JSON])?.first)
        let ka = try XCTUnwrap((mediatorDoc["keyAgreement"] as? [Any])?.first)
        var mediatorKey = (ka as? String) ?? ((ka as? JSON)?["id"] as? String ?? "")
        if mediatorKey.hasPrefix("#") { mediatorKey = (mediatorDoc["id"] as! String) + mediatorKey }
        let device = try generateIdentity(method: .peer2, service: DidCommService(uri: "\(url)/didcomm", routingKeys: [mediatorKey]))
        try Data(try text(["did_docs": [try parse(sender.document), try parse(device.document)]]).utf8).write(to: pinned)
        try sqlite("INSERT INTO grants (did, routing_did, granted_at) VALUES ('\(device.did)', '\(mediatorDid)', 1);"
            + "INSERT INTO keys (key, did) VALUES ('\(device.did)', '\(device.did)');")
        try start(pinned: pinned)

        let senderWallet = try Wallet()
        try senderWallet.addIdentity(identity: sender)
        try senderWallet.addDocument(document: device.document)
        let deviceWallet = try Wallet()
        try deviceWallet.addIdentity(identity: device)
        try deviceWallet.addDocument(document: sender.document)
        let senderDc = senderWallet.didComm()
        let deviceDc = deviceWallet.didComm()

        func send(_ content: String) async throws -> JSON {
            let message = try basicMessage(message: BasicMessage(content: content),
                                           headers: try text(["from": sender.did, "to": [device.did]]))
            let packed = try await senderDc.packEncrypted(message: message, to: device.did, options: PackEncryptedOptions(from: sender.did))
            let routed = try await senderDc.route(packed: packed.packed, to: device.did)
            XCTAssertEqual(routed.uri, "\(url)/didcomm")
            let (status, body) = try await post(routed.message)
            XCTAssertEqual(status, 202, body)
            return try parse(message)
        }

        func request(_ name: String, _ fields: JSON) async throws -> ProtocolMessage {
            let request = try buildProtocolMessage(messageType: "\(pickup)/\(name)", fields: try text(fields),
                                                   headers: try text(["from": device.did, "to": [mediatorDid]]))
            let packed = try await deviceDc.packEncrypted(message: request, to: mediatorDid, options: PackEncryptedOptions(from: device.did))
            let (status, body) = try await post(packed.packed)
            XCTAssertEqual(status, 200, "\(name): \(body)")
            let reply = try await deviceDc.unpack(packed: body)
            XCTAssertTrue(reply.metadata.authenticated)
            return try parseProtocolMessage(message: reply.message)
        }

        var sent = [JSON]()
        for i in 0..<3 { sent.append(try await send("hello \(i)")) }
        XCTAssertEqual(try parse(try await request("status-request", [:]).fields)["message_count"] as? Int, 3)
        let delivery = try await request("delivery-request", ["limit": 10])
        XCTAssertEqual(delivery.messageType, "\(pickup)/delivery")
        let items = try XCTUnwrap(try parse(delivery.fields)["messages"] as? [JSON])
        XCTAssertEqual(items.count, 3)
        var ids = [String]()
        for item in items {
            let inner = try await deviceDc.unpack(packed: try XCTUnwrap(item["message"] as? String))
            XCTAssertTrue(inner.metadata.authenticated)
            ids.append(try XCTUnwrap(try parse(inner.message)["id"] as? String))
        }
        XCTAssertEqual(ids.sorted(), sent.map { $0["id"] as! String }.sorted())
        let after = try await request("messages-received", ["message_id_list": items.map { $0["id"] as! String }])
        XCTAssertEqual(try parse(after.fields)["message_count"] as? Int, 0)

        // Live delivery over a WebSocket.
        let ws = URLSession.shared.webSocketTask(with: URL(string: "ws://127.0.0.1:\(port)/ws")!)
        ws.resume()
        defer { ws.cancel(with: .normalClosure, reason: nil) }
        let change = try buildProtocolMessage(messageType: "\(pickup)/live-delivery-change", fields: #"{"live_delivery":true}"#,
                                              headers: try text(["from": device.did, "to": [mediatorDid]]))
        try await ws.send(.string(try await deviceDc.packEncrypted(message: change, to: mediatorDid, options: PackEncryptedOptions(from: device.did)).packed))
        guard case let .string(statusFrame) = try await ws.receive() else { return XCTFail("expected a text frame") }
        let status = try parseProtocolMessage(message: try await deviceDc.unpack(packed: statusFrame).message)
        XCTAssertEqual(try parse(status.fields)["live_delivery"] as? Bool, true)
        let live = try await send("pushed")
        guard case let .string(frame) = try await ws.receive() else { return XCTFail("expected a text frame") }
        let pushed = try parseProtocolMessage(message: try await deviceDc.unpack(packed: frame).message)
        XCTAssertEqual(pushed.messageType, "\(pickup)/delivery")
        let item = try XCTUnwrap((try parse(pushed.fields)["messages"] as? [JSON])?.first)
        let inner = try await deviceDc.unpack(packed: try XCTUnwrap(item["message"] as? String))
        XCTAssertEqual(try parse(inner.message)["id"] as? String, live["id"] as? String)
        XCTAssertEqual(try parseBasicMessage(message: inner.message).content, "pushed")
    }
}
#endif

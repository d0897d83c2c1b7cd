import Foundation
import XCTest

@testable import DIDCommEdge

/// Every pack mode and option, with parties whose keys CryptoKit made.
final class RoundTripTests: XCTestCase {
    static let alice = Party("alice")
    static let bob = Party("bob")
    var a: DidComm!
    var b: DidComm!
    var alice: Party { Self.alice }
    var bob: Party { Self.bob }

    override func setUpWithError() throws {
        a = try alice.wallet(bob).didComm()
        b = try bob.wallet(alice).didComm()
    }

    func testPlaintext() throws {
        let msg = try newMessage(from: alice.did, to: bob.did)
        let result = try b.unpackBlocking(packed: try a.packPlaintext(message: msg))
        XCTAssertTrue(try sameJSON(result.message, try parse(msg)))
        XCTAssertFalse(result.metadata.encrypted || result.metadata.authenticated)
    }

    func testSignedWithEveryAlgorithm() async throws {
        for crv in signCurves {
            let msg = try newMessage(from: alice.did, to: bob.did)
            let packed = try await a.packSigned(message: msg, signBy: alice.signKids[crv]!)
            XCTAssertEqual(packed.metadata.signAlg, signAlg[crv])
            let result = try await b.unpack(packed: packed.packed)
            XCTAssertTrue(try sameJSON(result.message, try parse(msg)))
            XCTAssertTrue(result.metadata.nonRepudiation)
            XCTAssertEqual(result.metadata.signFrom, alice.signKids[crv])
        }
    }

    func testAnoncryptOnEveryCurveWithEveryContentEncryption() throws {
        let names: [(ContentEncryption, String)] = [
            (.a256CbcHs512, "ECDH-ES+A256KW/A256CBC-HS512"),
            (.a256Gcm, "ECDH-ES+A256KW/A256GCM"),
            (.xc20p, "ECDH-ES+A256KW/XC20P"),
        ]
        for crv in kaCurves {
            for (enc, name) in names {
                let msg = try newMessage(from: alice.did, to: bob.did)
                let packed = try a.packEncryptedBlocking(
                    message: msg, to: bob.kaKids[crv]!, options: PackEncryptedOptions(encAlgAnon: enc))
                XCTAssertNil(packed.metadata.fromKid)
                let result = try b.unpackBlocking(packed: packed.packed)
                XCTAssertTrue(try sameJSON(result.message, try parse(msg)), "\(crv) \(name)")
                XCTAssertTrue(result.metadata.anonymousSender)
                XCTAssertEqual(result.metadata.encAlgAnon, name)
            }
        }
    }

    func testAuthcryptOnEveryCurveSenderProtectedOrNot() async throws {
        for crv in kaCurves {
            for protect in [false, true] {
                let msg = try newMessage(from: alice.did, to: bob.did)
                let packed = try await a.packEncrypted(
                    message: msg, to: bob.did,
                    options: PackEncryptedOptions(from: alice.kaKids[crv], protectSender: protect))
                XCTAssertEqual(packed.metadata.fromKid, alice.kaKids[crv])
                XCTAssertEqual(packed.metadata.toKids, [bob.kaKids[crv]!])
                let result = try await b.unpack(packed: packed.packed)
                XCTAssertTrue(try sameJSON(result.message, try parse(msg)))
                XCTAssertTrue(result.metadata.authenticated)
                XCTAssertEqual(result.metadata.anonymousSender, protect)
                XCTAssertEqual(result.metadata.encryptedFromKid, alice.kaKids[crv])
            }
        }
    }

    func testSignedThenAuthcryptedAndToKids() throws {
        let msg = try newMessage(from: alice.did, to: bob.did)
        let packed = try a.packEncryptedBlocking(
            message: msg, to: bob.did, options: PackEncryptedOptions(from: alice.did, signBy: alice.did))
        let result = try b.unpackBlocking(packed: packed.packed)
        XCTAssertTrue(result.metadata.nonRepudiation && result.metadata.authenticated)
        XCTAssertEqual(result.metadata.signFrom, alice.signKids["Ed25519"])
        let limited = try a.packEncryptedBlocking(
            message: msg, to: bob.did, options: PackEncryptedOptions(toKids: [bob.kaKids["P-384"]!]))
        XCTAssertEqual(limited.metadata.toKids, [bob.kaKids["P-384"]!])
    }

    func testManyTasksInFlight() async throws {
        let messages = try (0..<40).map { try newMessage(from: alice.did, to: bob.did, extra: ["thid": "t-\($0)"]) }
        let (a, b, aliceDid, bobDid) = (self.a!, self.b!, alice.did, bob.did)
        let results = try await withThrowingTaskGroup(of: (Int, String).self) { group in
            for (i, m) in messages.enumerated() {
                group.addTask {
                    let packed = try await a.packEncrypted(message: m, to: bobDid, options: PackEncryptedOptions(from: aliceDid))
                    return (i, try await b.unpack(packed: packed.packed).message)
                }
            }
            var all = [Int: String]()
            for try await (i, m) in group { all[i] = m }
            return all
        }
        for (i, m) in messages.enumerated() {
            XCTAssertTrue(try sameJSON(try XCTUnwrap(results[i]), try parse(m)))
        }
    }

    func testDidRotationWithFromPrior() throws {
        let newAlice = Party("alice-2", ka: ["X25519"], sign: ["Ed25519"])
        let rotating = try Wallet(json: try text([
            "did_docs": [alice.doc, newAlice.doc, bob.doc], "secrets": alice.secrets + newAlice.secrets,
        ])).didComm()
        let jwt = try rotating.packFromPriorBlocking(claims: FromPrior(iss: alice.did, sub: newAlice.did))
        XCTAssertEqual(jwt.issuerKid, alice.signKids["Ed25519"])
        let msg = try newMessage(from: newAlice.did, to: bob.did, extra: ["from_prior": jwt.jwt])
        let packed = try rotating.packEncryptedBlocking(message: msg, to: bob.did, options: PackEncryptedOptions(from: newAlice.did))
        let receiver = try Wallet(json: try text(["did_docs": [alice.doc, newAlice.doc, bob.doc], "secrets": bob.secrets])).didComm()
        let result = try receiver.unpackBlocking(packed: packed.packed)
        XCTAssertEqual(result.metadata.fromPriorIssuerKid, alice.signKids["Ed25519"])
        XCTAssertEqual(result.metadata.fromPrior?.sub, newAlice.did)
    }

    func testEndingARelationshipWithFromPriorWithoutSub() async throws {
        // Alice ends her relationship with Bob: the message has no `from`, so it goes anoncrypt.
        let ending = try await a.endRelationship(did: alice.did)
        XCTAssertEqual(ending.issuerKid, alice.signKids["Ed25519"])
        let withFrom = try newMessage(from: alice.did, to: bob.did, extra: ["from_prior": ending.jwt])
        var fields = try parse(withFrom)
        fields.removeValue(forKey: "from")
        let msg = try text(fields)
        let result = try await b.unpack(packed: try await a.packEncrypted(message: msg, to: bob.did).packed)
        XCTAssertTrue(result.metadata.anonymousSender && !result.metadata.authenticated)
        XCTAssertEqual(result.metadata.fromPrior?.iss, alice.did)
        XCTAssertNil(result.metadata.fromPrior?.sub)
        XCTAssertEqual(try receivedEnding(message: result.message, metadata: result.metadata), alice.did)
        // Claims without `sub` through packFromPrior, received as plaintext.
        let jwt = try a.packFromPriorBlocking(claims: FromPrior(iss: alice.did, iat: 1_700_000_000))
        fields["from_prior"] = jwt.jwt
        let plain = try b.unpackBlocking(packed: try a.packPlaintext(message: try text(fields)))
        XCTAssertEqual(try receivedEnding(message: plain.message, metadata: plain.metadata), alice.did)
        let regular = try b.unpackBlocking(packed: try a.packPlaintext(message: try newMessage(from: alice.did, to: bob.did)))
        XCTAssertNil(try receivedEnding(message: regular.message, metadata: regular.metadata))
        // An ending that keeps its `from` is refused, sending and receiving.
        XCTAssertThrowsError(try a.packEncryptedBlocking(message: withFrom, to: bob.did, options: PackEncryptedOptions(from: alice.did))) { error in
            XCTAssertEqual(caseName(error), "IllegalArgument")
        }
        XCTAssertThrowsError(try b.unpackBlocking(packed: withFrom)) { error in
            XCTAssertEqual(caseName(error), "SenderMismatch")
        }
    }

    func testGeneratedIdentitiesTalkToEachOther() throws {
        for method in [IdentityMethod.peer2, .peer4, .key] {
            let (alice, bob) = (try generateIdentity(method: method), try generateIdentity(method: method))
            let wa = try Wallet()
            try wa.addIdentity(identity: alice)
            let wb = try Wallet()
            try wb.addIdentity(identity: bob)
            let msg = try newMessage(from: alice.did, to: bob.did)
            let packed = try wa.didComm().packEncryptedBlocking(
                message: msg, to: bob.did, options: PackEncryptedOptions(from: alice.did, signBy: alice.did))
            let result = try wb.didComm().unpackBlocking(packed: packed.packed)
            XCTAssertTrue(try sameJSON(result.message, try parse(msg)), "\(method)")
            XCTAssertTrue(result.metadata.authenticated && result.metadata.nonRepudiation)
        }
        let peer = try generateIdentity(method: .peer2, service: DidCommService(uri: "https://example.com/didcomm"))
        XCTAssertTrue(peer.document.contains("https://example.com/didcomm"))
        XCTAssertTrue(try generateDidKey(keyType: .p256).did.hasPrefix("did:key:z"))
    }

    func testErrorsAreTypedWithTheCoresKinds() throws {
        let msg = try newMessage(from: alice.did, to: bob.did)
        var packed = try parse(try a.packEncryptedBlocking(
            message: msg, to: bob.did, options: PackEncryptedOptions(from: alice.did)).packed)
        let ct = try XCTUnwrap(packed["ciphertext"] as? String)
        packed["ciphertext"] = String(ct.dropLast(4)) + (ct.hasSuffix("AAAA") ? "BBBB" : "AAAA")
        XCTAssertThrowsError(try b.unpackBlocking(packed: try text(packed))) { error in
            XCTAssertEqual(caseName(error), "DecryptionFailed")
        }
        XCTAssertThrowsError(try b.unpackBlocking(packed: "not json")) { error in
            XCTAssertEqual(caseName(error), "Malformed")
        }
        XCTAssertThrowsError(try a.packEncryptedBlocking(message: msg, to: "did:example:nobody", options: nil)) { error in
            XCTAssertEqual(caseName(error), "IllegalArgument")
        }
        XCTAssertThrowsError(try b.packSignedBlocking(message: msg, signBy: alice.did)) { error in
            XCTAssertEqual(caseName(error), "SecretNotFound")
        }
        XCTAssertThrowsError(try a.resolveBlocking(did: "did:example:nobody")) { error in
            XCTAssertEqual(caseName(error), "DidNotResolved")
        }
        let small = try bob.wallet(alice).didComm(config: Config(maxMessageSize: 200))
        XCTAssertThrowsError(try small.unpackBlocking(packed: try text(packed))) { error in
            XCTAssertEqual(caseName(error), "TooLarge")
        }
        let expired = try a.packEncryptedBlocking(
            message: try newMessage(from: alice.did, to: bob.did, extra: ["expires_time": 1000]), to: bob.did, options: nil)
        XCTAssertTrue(try b.unpackBlocking(packed: expired.packed).metadata.expired)
        XCTAssertThrowsError(try b.unpackBlocking(packed: expired.packed, options: UnpackOptions(rejectExpired: true))) { error in
            XCTAssertEqual(caseName(error), "Expired")
        }
    }
}

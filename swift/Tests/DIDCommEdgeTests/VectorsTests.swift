import Foundation
import XCTest

@testable import DIDCommEdge

/// Every message vector of testdata/vectors/didcomm-spec/ and the reference library's corpus.
final class VectorsTests: XCTestCase {
    // The corpus's from_prior JWT has exp 1234 and nbf 12345 (valid at no time); the reference
    // library does not check JWT times, we do by default (the same in every language).
    private let refusedAsExpired: Set<String> = ["rs-PLAINTEXT_FROM_PRIOR"]

    private func runFile(_ relative: String) throws -> (Int, Int) {
        var positives = 0
        var negatives = 0
        let vectors = try XCTUnwrap(try readJSON(relative)["vectors"] as? [JSON])
        for v in vectors {
            let id = try XCTUnwrap(v["id"] as? String)
            let dc = try Wallet(json: try walletFile(try XCTUnwrap(v["unpack_with"] as? String))).didComm()
            // The reference corpus predates DIDComm v2.1, where `body` became optional.
            let options = UnpackOptions(requireBody: id == "rs-INVALID_PLAINTEXT_MSG_NO_BODY")
            let packed = try XCTUnwrap(v["packed"] as? String)
            if refusedAsExpired.contains(id) {
                XCTAssertThrowsError(try dc.unpackBlocking(packed: packed, options: options), id) { error in
                    XCTAssertEqual(caseName(error), "Expired", "\(id): \(error)")
                }
                // Without the time check it is the message the reference library reads.
                var lenientOptions = options
                lenientOptions.checkFromPriorTimes = false
                let lenient = try dc.unpackBlocking(packed: packed, options: lenientOptions)
                let expected = try XCTUnwrap(v["expected"] as? JSON)
                XCTAssertTrue(try sameJSON(lenient.message, expected["message"] as Any), id)
                negatives += 1
            } else if v["expected_error"] != nil {
                XCTAssertThrowsError(try dc.unpackBlocking(packed: packed, options: options), id) { error in
                    XCTAssertFalse(["InvalidState"].contains(caseName(error)) || caseName(error).hasPrefix("not a"), "\(id): \(error)")
                }
                negatives += 1
            } else {
                let result = try dc.unpackBlocking(packed: packed, options: options)
                let expected = try XCTUnwrap(v["expected"] as? JSON)
                XCTAssertTrue(try sameJSON(result.message, expected["message"] as Any), id)
                XCTAssertEqual(
                    NSDictionary(dictionary: normalized(result.metadata)),
                    NSDictionary(dictionary: sortedExpected(try XCTUnwrap(expected["metadata"] as? JSON))),
                    id
                )
                positives += 1
            }
        }
        return (positives, negatives)
    }

    func testSpecAppendixCAllTenMessages() throws {
        let (p, n) = try runFile("didcomm-spec/appendix-c-messages.json")
        XCTAssertEqual([p, n], [10, 0])
    }

    func testReferenceLibraryMessageVectors() throws {
        let (p, n) = try runFile("sicpa-didcomm-rust/vectors_messages.json")
        XCTAssertEqual([p, n], [8, 1])
    }

    func testReferenceLibraryPlaintextVectors() throws {
        let (p, n) = try runFile("sicpa-didcomm-rust/vectors_plaintext.json")
        XCTAssertEqual([p, n], [8, 18])
    }

    func testSpecVectorsWithAppendixAAndBLoadedDirectly() throws {
        let wallet = try Wallet()
        let docs = try readJSON("didcomm-spec/appendix-b-diddocs.json")
        try wallet.addDocument(document: try text(try XCTUnwrap(docs["alice"])))
        try wallet.addDocument(document: try text(try XCTUnwrap(docs["bob"])))
        for var jwk in try XCTUnwrap(try readJSON("didcomm-spec/appendix-a-secrets.json")["bob_secrets"] as? [JSON]) {
            // The published secrets name their id `"kid "` (trailing space): trim it.
            let kidKey = try XCTUnwrap(jwk.keys.first { $0.trimmingCharacters(in: .whitespaces) == "kid" })
            let kid = try XCTUnwrap(jwk.removeValue(forKey: kidKey) as? String)
            try wallet.addSecret(secret: try text(["kid": kid, "type": "JsonWebKey2020", "privateKeyJwk": jwk]))
        }
        let dc = wallet.didComm()
        let vectors = try XCTUnwrap(try readJSON("didcomm-spec/appendix-c-messages.json")["vectors"] as? [JSON])
        for v in vectors {
            let result = try dc.unpackBlocking(packed: try XCTUnwrap(v["packed"] as? String))
            let expected = try XCTUnwrap(v["expected"] as? JSON)
            XCTAssertTrue(try sameJSON(result.message, expected["message"] as Any))
        }
        XCTAssertEqual(vectors.count, 10)
    }

    func testSpecVectorsThroughAsyncCallsConcurrently() async throws {
        let dc = try Wallet(json: try walletFile("bob")).didComm()
        let vectors = try XCTUnwrap(try readJSON("didcomm-spec/appendix-c-messages.json")["vectors"] as? [JSON])
        let packed = try vectors.map { try XCTUnwrap($0["packed"] as? String) }
        let results = try await withThrowingTaskGroup(of: (Int, Unpacked).self) { group in
            for (i, p) in packed.enumerated() {
                group.addTask { (i, try await dc.unpack(packed: p)) }
            }
            var all = [Int: Unpacked]()
            for try await (i, r) in group { all[i] = r }
            return all
        }
        for (i, v) in vectors.enumerated() {
            let expected = try XCTUnwrap(v["expected"] as? JSON)
            XCTAssertTrue(try sameJSON(try XCTUnwrap(results[i]).message, expected["message"] as Any))
        }
    }
}

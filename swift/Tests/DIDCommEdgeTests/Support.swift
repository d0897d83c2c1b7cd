import CryptoKit
import Foundation
import XCTest

@testable import DIDCommEdge

/// The vectors: `DIDCOMM_VECTORS`, or the repository's `testdata/vectors`.
let vectorsDir: URL = {
    if let configured = ProcessInfo.processInfo.environment["DIDCOMM_VECTORS"] {
        return URL(fileURLWithPath: configured)
    }
    // swift/Tests/DIDCommEdgeTests/Support.swift -> the repository root.
    return URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
        .appendingPathComponent("testdata/vectors")
}()

/// The repository root (for the mediator binary).
let repoRoot: URL = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

typealias JSON = [String: Any]

func readJSON(_ relative: String) throws -> JSON {
    let data = try Data(contentsOf: vectorsDir.appendingPathComponent(relative))
    return try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? JSON)
}

func parse(_ text: String) throws -> JSON {
    try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? JSON)
}

func text(_ value: Any) throws -> String {
    String(decoding: try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys]), as: UTF8.self)
}

/// Same JSON value, member order aside.
func sameJSON(_ a: String, _ b: Any) throws -> Bool {
    let left = try JSONSerialization.jsonObject(with: Data(a.utf8))
    return NSDictionary(dictionary: left as? JSON ?? [:]).isEqual(to: b as? JSON ?? [:])
}

/// `bob` is ids/spec-bob.json, `bob-rust` is ids/rust-bob.json (the vectors' naming).
func walletFile(_ name: String) throws -> String {
    let parts = name.split(separator: "-", maxSplits: 1)
    let path = parts.count == 2 && parts[1] == "rust" ? "ids/rust-\(parts[0]).json" : "ids/spec-\(name).json"
    return try String(contentsOf: vectorsDir.appendingPathComponent(path), encoding: .utf8)
}

/// Metadata in the vectors' normalized form.
func normalized(_ m: UnpackMetadata) -> JSON {
    [
        "encrypted": m.encrypted,
        "authenticated": m.authenticated,
        "non_repudiation": m.nonRepudiation,
        "anonymous_sender": m.anonymousSender,
        "re_wrapped_in_forward": m.reWrappedInForward,
        "encrypted_from": m.encryptedFromKid ?? NSNull(),
        "encrypted_to": m.encryptedToKids.map { $0.sorted() } ?? NSNull(),
        "sign_from": m.signFrom ?? NSNull(),
        "enc_alg_auth": m.encAlgAuth ?? NSNull(),
        "enc_alg_anon": m.encAlgAnon ?? NSNull(),
        "sign_alg": m.signAlg ?? NSNull(),
        "from_prior_issuer_kid": m.fromPriorIssuerKid ?? NSNull(),
    ]
}

/// The case of a `DidCommError` (`"DecryptionFailed"`), or a description of another error.
func caseName(_ error: Error) -> String {
    guard let e = error as? DidCommError else { return "not a DidCommError: \(error)" }
    // An enum case without a custom description prints as `Case(reason: "...")`.
    return String(String(describing: e).prefix { $0 != "(" })
}

func sortedExpected(_ expected: JSON) -> JSON {
    var e = expected
    if let to = e["encrypted_to"] as? [String] { e["encrypted_to"] = to.sorted() }
    return e
}

func b64u(_ data: Data) -> String {
    data.base64EncodedString()
        .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        .replacingOccurrences(of: "=", with: "")
}

/// A fresh key made by CryptoKit (independent of ours), as (private JWK, public JWK).
func jwkPair(_ crv: String) -> (JSON, JSON) {
    func ec(_ x963: Data, _ d: Data, size: Int) -> (JSON, JSON) {
        // x963: 0x04 || x || y
        let x = x963.subdata(in: 1..<(1 + size))
        let y = x963.subdata(in: (1 + size)..<(1 + 2 * size))
        let public: JSON = ["kty": "EC", "crv": crv, "x": b64u(x), "y": b64u(y)]
        return (public.merging(["d": b64u(d)]) { a, _ in a }, public)
    }
    switch crv {
    case "X25519":
        let k = Curve25519.KeyAgreement.PrivateKey()
        let public: JSON = ["kty": "OKP", "crv": crv, "x": b64u(k.publicKey.rawRepresentation)]
        return (public.merging(["d": b64u(k.rawRepresentation)]) { a, _ in a }, public)
    case "Ed25519":
        let k = Curve25519.Signing.PrivateKey()
        let public: JSON = ["kty": "OKP", "crv": crv, "x": b64u(k.publicKey.rawRepresentation)]
        return (public.merging(["d": b64u(k.rawRepresentation)]) { a, _ in a }, public)
    case "P-256":
        let k = P256.KeyAgreement.PrivateKey()
        return ec(k.publicKey.x963Representation, k.rawRepresentation, size: 32)
    case "P-384":
        let k = P384.KeyAgreement.PrivateKey()
        return ec(k.publicKey.x963Representation, k.rawRepresentation, size: 48)
    default:
        let k = P521.KeyAgreement.PrivateKey()
        return ec(k.publicKey.x963Representation, k.rawRepresentation, size: 66)
    }
}

let kaCurves = ["X25519", "P-256", "P-384", "P-521"]
let signCurves = ["Ed25519", "P-256"]
let signAlg = ["Ed25519": "EdDSA", "P-256": "ES256"]

/// `did:example:<name>` with one key agreement and one signing key per curve (JsonWebKey2020).
final class Party {
    let did: String
    var doc: JSON
    var secrets: [JSON] = []
    var kaKids: [String: String] = [:]
    var signKids: [String: String] = [:]

    init(_ name: String, ka: [String] = kaCurves, sign: [String] = signCurves) {
        did = "did:example:\(name)"
        doc = ["id": did, "verificationMethod": [JSON](), "authentication": [String](), "keyAgreement": [String]()]
        var methods: [JSON] = []
        var auth: [String] = []
        var agreement: [String] = []
        for (curves, purpose) in [(ka, "ka"), (sign, "sign")] {
            for crv in curves {
                let kid = "\(did)#\(purpose)-\(crv.lowercased().replacingOccurrences(of: "-", with: ""))"
                let (priv, pub) = jwkPair(crv)
                methods.append(["id": kid, "type": "JsonWebKey2020", "controller": did, "publicKeyJwk": pub])
                secrets.append(["kid": kid, "type": "JsonWebKey2020", "privateKeyJwk": priv])
                if purpose == "ka" {
                    agreement.append(kid)
                    kaKids[crv] = kid
                } else {
                    auth.append(kid)
                    signKids[crv] = kid
                }
            }
        }
        doc["verificationMethod"] = methods
        doc["authentication"] = auth
        doc["keyAgreement"] = agreement
    }

    /// A wallet with this party's secrets and every given party's document.
    func wallet(_ others: Party...) throws -> Wallet {
        try Wallet(json: try text(["did_docs": [doc] + others.map { $0.doc }, "secrets": secrets]))
    }
}

func newMessage(from: String, to: String, extra: JSON = [:]) throws -> String {
    var m: JSON = [
        "id": UUID().uuidString.lowercased(),
        "typ": "application/didcomm-plain+json",
        "type": "https://example.com/protocols/test/1.0/hello",
        "from": from,
        "to": [to],
        "created_time": 1_700_000_000,
        "body": ["text": "hello", "n": 7],
    ]
    m.merge(extra) { _, new in new }
    return try text(m)
}

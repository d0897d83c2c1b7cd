import Foundation
import XCTest

@testable import DIDCommEdge

/// Resolvers and secrets stores written in Swift; failing callbacks become typed errors.
final class HostTests: XCTestCase {
    let alice = Party("alice", ka: ["X25519"], sign: ["Ed25519"])
    let bob = Party("bob", ka: ["X25519"], sign: ["Ed25519"])

    final class MapResolver: DidResolver, @unchecked Sendable {
        let docs: [String: String]
        private let lock = NSLock()
        private(set) var calls = 0
        private(set) var threads = Set<String>()

        init(_ docs: [JSON]) throws {
            var map = [String: String]()
            for d in docs { map[d["id"] as! String] = try text(d) }
            self.docs = map
        }

        func resolve(did: String) throws -> String? {
            lock.lock()
            calls += 1
            threads.insert(Thread.isMainThread ? "main" : "\(Unmanaged.passUnretained(Thread.current).toOpaque())")
            lock.unlock()
            return docs[did]
        }
    }

    final class MapSecrets: SecretsStore, @unchecked Sendable {
        let secrets: [String: String]
        init(_ secrets: [JSON]) throws {
            var map = [String: String]()
            for s in secrets { map[s["kid"] as! String] = try text(s) }
            self.secrets = map
        }
        func getSecret(kid: String) throws -> String? { secrets[kid] }
        func findSecrets(kids: [String]) throws -> [String] { kids.filter { secrets[$0] != nil } }
    }

    struct HostFailure: Error {}

    final class Failing: DidResolver, SecretsStore, @unchecked Sendable {
        let error: Error
        init(_ error: Error) { self.error = error }
        func resolve(did: String) throws -> String? { throw error }
        func getSecret(kid: String) throws -> String? { throw error }
        func findSecrets(kids: [String]) throws -> [String] { throw error }
    }

    private func packedForBob() throws -> String {
        try alice.wallet(bob).didComm().packEncryptedBlocking(
            message: try newMessage(from: alice.did, to: bob.did), to: bob.did,
            options: PackEncryptedOptions(from: alice.did, signBy: alice.did)
        ).packed
    }

    func testSwiftObjectsAsResolverAndSecretsStoreCachedByTheEngine() throws {
        let resolver = try MapResolver([alice.doc, bob.doc])
        let dc = DidComm(resolver: ResolverChain(host: resolver), secrets: try MapSecrets(bob.secrets))
        XCTAssertTrue(try dc.unpackBlocking(packed: try packedForBob()).metadata.authenticated)
        let calls = resolver.calls
        _ = try dc.unpackBlocking(packed: try packedForBob())
        XCTAssertEqual(resolver.calls, calls)
        dc.invalidateDid(did: alice.did)
        _ = try dc.unpackBlocking(packed: try packedForBob())
        XCTAssertGreaterThan(resolver.calls, calls)
    }

    func testAsyncCallsRunHostCallbacksOffTheMainThread() async throws {
        let resolver = try MapResolver([alice.doc, bob.doc])
        let dc = DidComm(resolver: ResolverChain(host: resolver), secrets: try MapSecrets(bob.secrets))
        _ = try await dc.unpack(packed: try packedForBob())
        XCTAssertFalse(resolver.threads.contains("main"))
    }

    func testFailingCallbacksBecomeResolverFailure() async throws {
        let viaResolver = DidComm(resolver: ResolverChain(host: Failing(HostFailure())), secrets: try MapSecrets(bob.secrets))
        XCTAssertThrowsError(try viaResolver.unpackBlocking(packed: try packedForBob())) { error in
            XCTAssertEqual(caseName(error), "ResolverFailure")
        }
        let viaSecrets = DidComm(resolver: ResolverChain(host: try MapResolver([alice.doc, bob.doc])), secrets: Failing(HostFailure()))
        do {
            _ = try await viaSecrets.unpack(packed: try packedForBob())
            XCTFail("expected a failure")
        } catch {
            XCTAssertEqual(caseName(error), "ResolverFailure")
        }
    }

    func testAHostMayThrowATypedErrorItself() throws {
        let dc = DidComm(
            resolver: ResolverChain(host: Failing(DidCommError.DidNotResolved(reason: "registry offline"))),
            secrets: try MapSecrets(bob.secrets))
        XCTAssertThrowsError(try dc.unpackBlocking(packed: try packedForBob())) { error in
            XCTAssertEqual(caseName(error), "DidNotResolved")
            XCTAssertTrue("\(error)".contains("registry offline"))
        }
    }

    func testInMemoryStoresAreLive() throws {
        let resolver = try InMemoryDidResolver()
        let secrets = try InMemorySecretsStore()
        let dc = DidComm(resolver: ResolverChain(pinned: resolver), secrets: secrets)
        XCTAssertThrowsError(try dc.unpackBlocking(packed: try packedForBob()))
        try resolver.add(document: try text(alice.doc))
        try resolver.add(document: try text(bob.doc))
        for s in bob.secrets { try secrets.add(secret: try text(s)) }
        dc.clearCaches()
        XCTAssertTrue(try dc.unpackBlocking(packed: try packedForBob()).metadata.authenticated)
        XCTAssertEqual(resolver.dids(), [alice.did, bob.did].sorted())
    }

    func testTheChainResolvesPeerDidsItselfAndAsksTheHostForTheRest() throws {
        let identity = try generateIdentity(method: .peer4)
        let host = try MapResolver([alice.doc])
        let dc = DidComm(resolver: ResolverChain(host: host, didWeb: false), secrets: try InMemorySecretsStore())
        XCTAssertEqual(try parse(try dc.resolveBlocking(did: identity.did))["id"] as? String, identity.did)
        XCTAssertEqual(host.calls, 0)
        XCTAssertEqual(try parse(try dc.resolveBlocking(did: alice.did))["id"] as? String, alice.did)
        XCTAssertEqual(host.calls, 1)
    }
}

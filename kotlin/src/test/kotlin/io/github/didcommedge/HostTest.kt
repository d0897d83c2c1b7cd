package io.github.didcommedge

import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.atomic.AtomicInteger
import kotlinx.coroutines.runBlocking
import org.json.JSONObject
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertTrue

/** Resolvers and secrets stores written in Kotlin; failing callbacks become typed exceptions. */
class HostTest {
    private val alice = Party("alice", ka = listOf("X25519"), sign = listOf("Ed25519"))
    private val bob = Party("bob", ka = listOf("X25519"), sign = listOf("Ed25519"))

    private class MapResolver(vararg docs: JSONObject) : DidResolver {
        val docs = docs.associate { it.getString("id") to it.toString() }
        val calls = AtomicInteger()
        val threads: MutableSet<String> = ConcurrentHashMap.newKeySet()
        override fun resolve(did: String): String? {
            calls.incrementAndGet()
            threads.add(Thread.currentThread().name)
            return docs[did]
        }
    }

    private class MapSecrets(secrets: List<JSONObject>) : SecretsStore {
        val secrets = secrets.associate { it.getString("kid") to it.toString() }
        override fun getSecret(kid: String): String? = secrets[kid]
        override fun findSecrets(kids: List<String>): List<String> = kids.filter { it in secrets }
    }

    private fun packedForBob(): String = alice.wallet(bob).didComm().packEncryptedBlocking(
        newMessage(alice.did, bob.did), bob.did, PackEncryptedOptions(from = alice.did, signBy = alice.did),
    ).packed

    @Test fun `kotlin objects as resolver and secrets store, cached by the engine`() {
        val resolver = MapResolver(alice.doc, bob.doc)
        val dc = DidComm(ResolverChain(host = resolver), MapSecrets(bob.secrets))
        assertTrue(dc.unpackBlocking(packedForBob()).metadata.authenticated)
        val calls = resolver.calls.get()
        dc.unpackBlocking(packedForBob())
        assertEquals(calls, resolver.calls.get())
        dc.invalidateDid(alice.did)
        dc.unpackBlocking(packedForBob())
        assertTrue(resolver.calls.get() > calls)
    }

    @Test fun `suspend calls run host callbacks off the caller's thread`() {
        val resolver = MapResolver(alice.doc, bob.doc)
        val dc = DidComm(ResolverChain(host = resolver), MapSecrets(bob.secrets))
        val caller = Thread.currentThread().name
        runBlocking { dc.unpack(packedForBob()) }
        assertFalse(caller in resolver.threads, "${resolver.threads}")
    }

    private class Failing(val error: Throwable) : DidResolver, SecretsStore {
        override fun resolve(did: String): String? = throw error
        override fun getSecret(kid: String): String? = throw error
        override fun findSecrets(kids: List<String>): List<String> = throw error
    }

    @Test fun `failing callbacks become ResolverFailure, never a crash`() {
        for (error in listOf(RuntimeException("network down"), IllegalStateException(), java.io.IOException("reset"))) {
            val viaResolver = DidComm(ResolverChain(host = Failing(error)), MapSecrets(bob.secrets))
            assertFailsWith<DidCommException.ResolverFailure> { viaResolver.unpackBlocking(packedForBob()) }
            val viaSecrets = DidComm(ResolverChain(host = MapResolver(alice.doc, bob.doc)), Failing(error))
            runBlocking { assertFailsWith<DidCommException.ResolverFailure> { viaSecrets.unpack(packedForBob()) } }
        }
    }

    @Test fun `a host may throw a typed exception itself`() {
        val dc = DidComm(ResolverChain(host = Failing(DidCommException.DidNotResolved("registry offline"))), MapSecrets(bob.secrets))
        val e = assertFailsWith<DidCommException.DidNotResolved> { dc.unpackBlocking(packedForBob()) }
        assertTrue("registry offline" in e.reason)
    }

    @Test fun `bad answers are typed errors`() {
        val junk = object : DidResolver {
            override fun resolve(did: String): String = "not json"
        }
        assertFailsWith<DidCommException.Malformed> {
            DidComm(ResolverChain(host = junk), MapSecrets(bob.secrets)).unpackBlocking(packedForBob())
        }
        val liar = object : SecretsStore {
            override fun getSecret(kid: String): String? = bob.secrets.first { it.getString("kid") != kid }.toString()
            override fun findSecrets(kids: List<String>): List<String> = kids
        }
        assertFailsWith<DidCommException.Malformed> {
            DidComm(ResolverChain(host = MapResolver(alice.doc, bob.doc)), liar).unpackBlocking(packedForBob())
        }
    }

    @Test fun `in-memory stores are live and are DidResolver and SecretsStore`() {
        val resolver = InMemoryDidResolver()
        val secrets = InMemorySecretsStore()
        val dc = DidComm(ResolverChain(pinned = resolver), secrets)
        assertFailsWith<DidCommException> { dc.unpackBlocking(packedForBob()) }
        resolver.add(alice.doc.toString())
        resolver.add(bob.doc.toString())
        bob.secrets.forEach { secrets.add(it.toString()) }
        dc.clearCaches()
        assertTrue(dc.unpackBlocking(packedForBob()).metadata.authenticated)
        assertEquals(listOf(alice.did, bob.did).sorted(), resolver.dids())
        assertFailsWith<DidCommException.Malformed> { secrets.add("""{"kid":"did:example:x#1","privateKeyJwk":{"kty":"OKP"}}""") }
    }

    @Test fun `the resolver chain resolves peer DIDs itself and asks the host for the rest`() {
        val identity = generateIdentity(IdentityMethod.PEER4)
        val host = MapResolver(alice.doc)
        val dc = DidComm(ResolverChain(host = host, didWeb = false), InMemorySecretsStore())
        assertEquals(identity.did, JSONObject(dc.resolveBlocking(identity.did)).getString("id"))
        assertEquals(0, host.calls.get())
        assertEquals(alice.did, JSONObject(dc.resolveBlocking(alice.did)).getString("id"))
        assertEquals(1, host.calls.get())
    }
}

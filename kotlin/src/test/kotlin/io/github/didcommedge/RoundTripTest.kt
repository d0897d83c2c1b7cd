package io.github.didcommedge

import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withContext
import org.json.JSONObject
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertNull
import kotlin.test.assertTrue

/** Every pack mode and option, with parties whose keys the JDK made. */
class RoundTripTest {
    companion object {
        val alice = Party("alice")
        val bob = Party("bob")
        val a = alice.wallet(bob).didComm()
        val b = bob.wallet(alice).didComm()
    }

    @Test fun plaintext() {
        val msg = newMessage(alice.did, bob.did)
        val result = b.unpackBlocking(a.packPlaintext(msg))
        assertTrue(sameJson(result.message, msg))
        assertTrue(!result.metadata.encrypted && !result.metadata.authenticated)
    }

    @Test fun `signed with every algorithm`() = runBlocking {
        for (crv in SIGN_CURVES) {
            val msg = newMessage(alice.did, bob.did)
            val packed = a.packSigned(msg, alice.signKids.getValue(crv))
            assertEquals(SIGN_ALG[crv], packed.metadata.signAlg)
            val result = b.unpack(packed.packed)
            assertTrue(sameJson(result.message, msg))
            assertTrue(result.metadata.nonRepudiation)
            assertEquals(alice.signKids[crv], result.metadata.signFrom)
        }
    }

    @Test fun `anoncrypt on every curve with every content encryption`() {
        val names = mapOf(
            ContentEncryption.A256_CBC_HS512 to "ECDH-ES+A256KW/A256CBC-HS512",
            ContentEncryption.A256_GCM to "ECDH-ES+A256KW/A256GCM",
            ContentEncryption.XC20P to "ECDH-ES+A256KW/XC20P",
        )
        for (crv in KA_CURVES) for ((enc, name) in names) {
            val msg = newMessage(alice.did, bob.did)
            val packed = a.packEncryptedBlocking(msg, bob.kaKids.getValue(crv), PackEncryptedOptions(encAlgAnon = enc))
            assertNull(packed.metadata.fromKid)
            val result = b.unpackBlocking(packed.packed)
            assertTrue(sameJson(result.message, msg), "$crv $enc")
            assertTrue(result.metadata.anonymousSender)
            assertEquals(name, result.metadata.encAlgAnon)
        }
    }

    @Test fun `authcrypt on every curve, sender protected or not`() = runBlocking {
        for (crv in KA_CURVES) for (protect in listOf(false, true)) {
            val msg = newMessage(alice.did, bob.did)
            val packed = a.packEncrypted(msg, bob.did, PackEncryptedOptions(from = alice.kaKids[crv], protectSender = protect))
            assertEquals(alice.kaKids[crv], packed.metadata.fromKid)
            assertEquals(listOf(bob.kaKids[crv]), packed.metadata.toKids)
            val result = b.unpack(packed.packed)
            assertTrue(sameJson(result.message, msg))
            assertTrue(result.metadata.authenticated)
            assertEquals(protect, result.metadata.anonymousSender)
            assertEquals(alice.kaKids[crv], result.metadata.encryptedFromKid)
        }
    }

    @Test fun `signed then authcrypted, and toKids`() {
        val msg = newMessage(alice.did, bob.did)
        val packed = a.packEncryptedBlocking(msg, bob.did, PackEncryptedOptions(from = alice.did, signBy = alice.did))
        val result = b.unpackBlocking(packed.packed)
        assertTrue(result.metadata.nonRepudiation && result.metadata.authenticated)
        assertEquals(alice.signKids["Ed25519"], result.metadata.signFrom)
        val limited = a.packEncryptedBlocking(msg, bob.did, PackEncryptedOptions(toKids = listOf(bob.kaKids.getValue("P-384"))))
        assertEquals(listOf(bob.kaKids["P-384"]), limited.metadata.toKids)
    }

    @Test fun `many suspend calls in flight on the default dispatcher`() = runBlocking {
        val messages = (0 until 40).map { newMessage(alice.did, bob.did, mapOf("thid" to "t-$it")) }
        val results = withContext(Dispatchers.Default) {
            messages.map { m ->
                async { b.unpack(a.packEncrypted(m, bob.did, PackEncryptedOptions(from = alice.did)).packed) }
            }.awaitAll()
        }
        results.zip(messages).forEach { (r, m) -> assertTrue(sameJson(r.message, m)) }
    }

    @Test fun `DID rotation with from_prior`() {
        val newAlice = Party("alice-2", ka = listOf("X25519"), sign = listOf("Ed25519"))
        val rotating = Wallet(
            JSONObject().put("did_docs", listOf(alice.doc, newAlice.doc, bob.doc))
                .put("secrets", alice.secrets + newAlice.secrets).toString(),
        ).didComm()
        val jwt = rotating.packFromPriorBlocking(FromPrior(iss = alice.did, sub = newAlice.did))
        assertEquals(alice.signKids["Ed25519"], jwt.issuerKid)
        val msg = newMessage(newAlice.did, bob.did, mapOf("from_prior" to jwt.jwt))
        val packed = rotating.packEncryptedBlocking(msg, bob.did, PackEncryptedOptions(from = newAlice.did))
        val receiver = Wallet(
            JSONObject().put("did_docs", listOf(alice.doc, newAlice.doc, bob.doc)).put("secrets", bob.secrets).toString(),
        ).didComm()
        val result = receiver.unpackBlocking(packed.packed)
        assertEquals(alice.signKids["Ed25519"], result.metadata.fromPriorIssuerKid)
        assertEquals(newAlice.did, result.metadata.fromPrior?.sub)
    }

    @Test fun `ending a relationship with from_prior without sub`() = runBlocking {
        // Alice ends her relationship with Bob: the message has no `from`, so it goes anoncrypt.
        val ending = a.endRelationship(alice.did)
        assertEquals(alice.signKids["Ed25519"], ending.issuerKid)
        val withFrom = newMessage(alice.did, bob.did, mapOf("from_prior" to ending.jwt))
        val msg = JSONObject(withFrom).apply { remove("from") }.toString()
        val result = b.unpack(a.packEncrypted(msg, bob.did).packed)
        assertTrue(result.metadata.anonymousSender && !result.metadata.authenticated)
        assertEquals(alice.did, result.metadata.fromPrior?.iss)
        assertNull(result.metadata.fromPrior?.sub)
        assertEquals(alice.did, receivedEnding(result.message, result.metadata))
        // Claims without `sub` through packFromPrior, received as plaintext.
        val jwt = a.packFromPriorBlocking(FromPrior(iss = alice.did, iat = 1700000000uL))
        val plain = b.unpackBlocking(a.packPlaintext(JSONObject(msg).put("from_prior", jwt.jwt).toString()))
        assertEquals(alice.did, receivedEnding(plain.message, plain.metadata))
        val regular = b.unpackBlocking(a.packPlaintext(newMessage(alice.did, bob.did)))
        assertNull(receivedEnding(regular.message, regular.metadata))
        // An ending that keeps its `from` is refused, sending and receiving.
        assertFailsWith<DidCommException.IllegalArgument> {
            a.packEncryptedBlocking(withFrom, bob.did, PackEncryptedOptions(from = alice.did))
        }
        assertFailsWith<DidCommException.SenderMismatch> { b.unpackBlocking(withFrom) }
        Unit
    }

    @Test fun `generated identities talk to each other`() {
        for (method in IdentityMethod.entries) {
            val (alice, bob) = generateIdentity(method) to generateIdentity(method)
            val wa = Wallet().apply { addIdentity(alice) }
            val wb = Wallet().apply { addIdentity(bob) }
            val msg = newMessage(alice.did, bob.did)
            val packed = wa.didComm().packEncryptedBlocking(msg, bob.did, PackEncryptedOptions(from = alice.did, signBy = alice.did))
            val result = wb.didComm().unpackBlocking(packed.packed)
            assertTrue(sameJson(result.message, msg), method.name)
            assertTrue(result.metadata.authenticated && result.metadata.nonRepudiation)
        }
        val peer = generateIdentity(IdentityMethod.PEER2, DidCommService(uri = "https://example.com/didcomm"))
        assertTrue(peer.document.contains("https://example.com/didcomm"))
        assertTrue(generateDidKey(KeyType.P256).did.startsWith("did:key:z"))
    }

    @Test fun `errors are typed exceptions with the core's kinds`() {
        val msg = newMessage(alice.did, bob.did)
        val packed = JSONObject(a.packEncryptedBlocking(msg, bob.did, PackEncryptedOptions(from = alice.did)).packed)
        val ct = packed.getString("ciphertext")
        packed.put("ciphertext", ct.dropLast(4) + if (ct.endsWith("AAAA")) "BBBB" else "AAAA")
        val e = assertFailsWith<DidCommException.DecryptionFailed> { b.unpackBlocking(packed.toString()) }
        assertTrue(e.reason.isNotEmpty())
        assertFailsWith<DidCommException.Malformed> { b.unpackBlocking("not json") }
        assertFailsWith<DidCommException.IllegalArgument> { a.packEncryptedBlocking(msg, "did:example:nobody") }
        assertFailsWith<DidCommException.SecretNotFound> { b.packSignedBlocking(msg, alice.did) }
        assertFailsWith<DidCommException.DidNotResolved> { a.resolveBlocking("did:example:nobody") }
        val small = bob.wallet(alice).didComm(Config(maxMessageSize = 200uL))
        assertFailsWith<DidCommException.TooLarge> { small.unpackBlocking(packed.toString()) }
        runBlocking { assertFailsWith<DidCommException.Malformed> { b.unpack("[]") } }
        val expired = a.packEncryptedBlocking(newMessage(alice.did, bob.did, mapOf("expires_time" to 1000)), bob.did)
        assertTrue(b.unpackBlocking(expired.packed).metadata.expired)
        assertFailsWith<DidCommException.Expired> { b.unpackBlocking(expired.packed, UnpackOptions(rejectExpired = true)) }
    }

    @Test fun `closed objects refuse further use`() {
        val dc = bob.wallet(alice).didComm()
        dc.close()
        assertFailsWith<IllegalStateException> { dc.packPlaintext(newMessage(bob.did, alice.did)) }
    }
}

package io.github.didcommedge

import org.json.JSONObject
import java.nio.ByteBuffer
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertTrue

/**
 * The low-overhead JSON forms (`*JsonBlocking`, made for CPython) work on the JVM too: direct
 * ByteBuffers in, one JSON text out, the same metadata as the record forms.
 */
class JsonFormsTest {
    companion object {
        val alice = Party("alice")
        val bob = Party("bob")
        val a = alice.wallet(bob).didComm()
        val b = bob.wallet(alice).didComm()
    }

    private fun direct(text: String): ByteBuffer {
        val bytes = text.toByteArray(Charsets.UTF_8)
        return ByteBuffer.allocateDirect(bytes.size).put(bytes).flip()
    }

    @Test fun `authcrypt packed and unpacked through the JSON forms`() {
        val msg = newMessage(alice.did, bob.did)
        val options = JSONObject().put("from", alice.did).put("protect_sender", true).toString()
        val packed = JSONObject(a.packEncryptedJsonBlocking(direct(msg), direct(bob.did), direct(options)))
        val recordPacked = a.packEncryptedBlocking(msg, bob.did, PackEncryptedOptions(from = alice.did, protectSender = true))
        assertEquals(recordPacked.metadata.fromKid, packed.getJSONObject("metadata").getString("from_kid"))
        val unpacked = JSONObject(b.unpackJsonBlocking(direct(packed.getString("packed")), direct("")))
        assertTrue(sameJson(msg, unpacked.getJSONObject("message")))
        val record = b.unpackBlocking(packed.getString("packed"))
        val metadata = unpacked.getJSONObject("metadata")
        assertEquals(record.metadata.anonymousSender, metadata.getBoolean("anonymous_sender"))
        assertEquals(record.metadata.encryptedFromKid, metadata.getString("encrypted_from_kid"))
        assertEquals(record.metadata.encAlgAnon, metadata.getString("enc_alg_anon"))
    }

    @Test fun `signed through the JSON form, errors typed`() {
        val msg = newMessage(alice.did, bob.did)
        val signer = alice.signKids.getValue("Ed25519")
        val packed = JSONObject(a.packSignedJsonBlocking(direct(msg), direct(signer)))
        assertEquals("EdDSA", packed.getJSONObject("metadata").getString("sign_alg"))
        assertEquals(packed.getString("packed"), a.packSignedBlocking(msg, signer).packed)
        assertFailsWith<DidCommException.Malformed> { b.unpackJsonBlocking(direct("{"), direct("")) }
        assertFailsWith<DidCommException.IllegalArgument> {
            b.unpackJsonBlocking(direct(packed.getString("packed")), direct("""{"rejectExpired": true}"""))
        }
    }
}

package io.github.didcommedge

import org.json.JSONObject
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue

/** Builders and parsers, forwards and routes. */
class ProtocolsTest {
    @Test fun `messages and the typed helpers`() {
        val m = JSONObject(createMessage("https://didcomm.org/basicmessage/2.0/message", """{"content":"hi"}""", """{"from":"did:example:a"}"""))
        assertEquals("did:example:a", m.getString("from"))
        assertEquals(36, m.getString("id").length)
        val basic = basicMessage(BasicMessage(content = "hello", lang = "en"), """{"to":["did:example:b"]}""")
        assertEquals(BasicMessage("hello", "en"), parseBasicMessage(basic))
        val ping = trustPing(true, """{"from":"did:example:a"}""")
        val response = JSONObject(assertNotNull(trustPingResponse(ping)))
        assertEquals(JSONObject(ping).getString("id"), response.getString("thid"))
        assertNull(trustPingResponse(trustPing(false)))
        val report = problemReport(ProblemReport(code = "e.p.xfer.cant-use-endpoint", pthid = "t-1", comment = "Cannot reach {1}", args = listOf("https://x")))
        assertEquals("Cannot reach https://x", parseProblemReport(report).interpolatedComment)
        val invitation = oobInvitation("did:example:m", "connect", null, listOf(ping))
        val url = oobInvitationUrl(invitation, "https://example.com/invite")
        assertTrue(sameJson(oobInvitationFromUrl(url), invitation))
        assertEquals(1, oobAttachedMessages(invitation).size)
    }

    @Test fun `every protocol message type builds and parses`() {
        val types = protocolMessageTypes()
        assertTrue(types.size >= 36)
        val pickup = buildProtocolMessage("https://didcomm.org/messagepickup/3.0/delivery-request", """{"limit":10}""", """{"from":"did:example:a"}""")
        assertEquals("all", JSONObject(pickup).getString("return_route"))
        val parsed = parseProtocolMessage(pickup)
        assertEquals("https://didcomm.org/messagepickup/3.0", parsed.protocol)
        assertEquals(10, JSONObject(parsed.fields).getInt("limit"))
        val grant = buildProtocolMessage("https://didcomm.org/coordinate-mediation/2.0/mediate-grant", """{"routing_did":["did:example:m"]}""")
        assertEquals("did:example:m", JSONObject(grant).getJSONObject("body").getString("routing_did"))
        assertFailsWith<DidCommException.Unsupported> { buildProtocolMessage("https://example.com/x/1.0/y", "{}") }
        assertFailsWith<DidCommException.Malformed> { buildProtocolMessage("https://didcomm.org/messagepickup/3.0/delivery-request", """{"limit":"x"}""") }
    }

    @Test fun `route through a mediator and unwrap the forward`() {
        val alice = Party("alice", ka = listOf("X25519"), sign = listOf())
        val mediator = Party("mediator", ka = listOf("X25519"), sign = listOf())
        val bob = Party("bob", ka = listOf("X25519"), sign = listOf())
        mediator.doc.put("service", listOf(JSONObject().put("id", "#didcomm").put("type", "DIDCommMessaging")
            .put("serviceEndpoint", JSONObject().put("uri", "https://mediator.example").put("accept", listOf("didcomm/v2")))))
        bob.doc.put("service", listOf(JSONObject().put("id", "#didcomm").put("type", "DIDCommMessaging")
            .put("serviceEndpoint", JSONObject().put("uri", mediator.did))))
        val sender = alice.wallet(mediator, bob).didComm()
        val msg = newMessage(alice.did, bob.did)
        val packed = sender.packEncryptedBlocking(msg, bob.did, PackEncryptedOptions(from = alice.did))
        val routed = sender.routeBlocking(packed.packed, bob.did)
        assertEquals("https://mediator.example", routed.uri)
        assertEquals(listOf(mediator.did), routed.hops)
        val opened = mediator.wallet(alice, bob).didComm().unwrapForwardBlocking(routed.message)
        assertEquals(bob.did, opened.forward.next)
        val result = bob.wallet(alice, mediator).didComm().unpackBlocking(opened.forward.messages.single())
        assertTrue(sameJson(result.message, msg))
        val forward = parseForward(forwardMessage(Forward(next = bob.did, messages = listOf(packed.packed))))
        assertEquals(bob.did, forward.next)
    }
}

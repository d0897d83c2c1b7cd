package io.github.didcommedge

import java.io.File
import java.net.InetAddress
import java.net.ServerSocket
import java.nio.file.Files
import java.time.Duration
import java.util.concurrent.TimeUnit
import kotlinx.coroutines.delay
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.json.JSONObject
import org.junit.jupiter.api.Assumptions.assumeTrue
import kotlin.test.AfterTest
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertFailsWith
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue

/**
 * The edge agent from Kotlin (suspend functions) against a real mediator process on 127.0.0.1:
 * two devices connect from the invitation, send to each other through the mediator, pick up,
 * receive live over the WebSocket, rotate; and a closed port is a typed `Unreachable`.
 */
class AgentTest {
    private val step = Duration.ofSeconds(20)
    private val dataDir = Files.createTempDirectory("didcomm-edge-agent").toFile()
    private var process: Process? = null
    private var invitation = ""
    private var mediatorDid = ""

    private fun freePort(): Int = ServerSocket(0, 1, InetAddress.getLoopbackAddress()).use { it.localPort }

    private fun start() {
        val bin = File(System.getProperty("didcomm.mediator") ?: "../target/debug/didcomm-edge-mediator")
        assumeTrue(bin.canExecute(), "build the mediator first: cargo build -p didcomm-edge-mediator")
        val p = ProcessBuilder(bin.path, "--listen", "127.0.0.1:${freePort()}", "--data-dir", dataDir.path, "--no-qr", "--admin-listen", "off")
            .redirectError(ProcessBuilder.Redirect.DISCARD).start()
        process = p
        val reader = p.inputStream.bufferedReader()
        while (true) {
            val line = assertNotNull(reader.readLine(), "the mediator exited")
            if (line.startsWith("mediator DID: ")) mediatorDid = line.removePrefix("mediator DID: ").trim()
            if (line.startsWith("invitation: ")) invitation = line.removePrefix("invitation: ").trim()
            if (line.startsWith("listening on ")) break
        }
        assertTrue(invitation.startsWith("http"), "the mediator printed no invitation")
    }

    @AfterTest fun cleanUp() {
        process?.let { p ->
            p.destroy()
            if (!p.waitFor(step.seconds, TimeUnit.SECONDS)) p.destroyForcibly()
        }
        dataDir.deleteRecursively()
    }

    private fun agent() = EdgeAgent(AgentConfig(requestTimeoutMs = 5_000uL, retryAttempts = 2u))

    private suspend fun pickupOne(device: EdgeAgent): ReceivedMessage {
        val deadline = System.nanoTime() + step.toNanos()
        while (true) {
            val batch = device.pickup()
            val messages = batch.messages()
            if (messages.isNotEmpty()) {
                assertEquals(1, messages.size)
                batch.acknowledge()
                return messages[0]
            }
            assertTrue(System.nanoTime() < deadline, "nothing arrived")
            delay(50)
        }
    }

    @Test fun `two agents connect, send, pick up, receive live and rotate`(): Unit = runBlocking {
        start()
        withTimeout(step.toMillis() * 6) {
            val alice = agent()
            val bob = agent()
            val connection = alice.connect(invitation)
            assertEquals(mediatorDid, connection.mediatorDid)
            assertTrue(connection.newlyGranted)
            bob.connect(invitation)
            val aliceDid = assertNotNull(alice.did())
            val bobDid = assertNotNull(bob.did())
            assertTrue(bobDid in bob.keylist())

            val sent = alice.send(bobDid, basicMessage(BasicMessage("hello Bob")))
            assertEquals(listOf(mediatorDid), sent.hops)
            val received = pickupOne(bob)
            assertEquals(sent.id, JSONObject(received.message).getString("id"))
            assertEquals(aliceDid, received.sender)
            assertTrue(received.metadata.authenticated)
            assertEquals("hello Bob", parseBasicMessage(received.message).content)
            assertEquals(0uL, bob.status().messageCount)

            // Live delivery.
            val live = bob.live()
            live.waitLive(step.toMillis().toULong())
            assertEquals(LiveState.Live, live.state())
            val pushed = alice.send(bobDid, basicMessage(BasicMessage("pushed")))
            val event = live.recv()
            val message = assertNotNull(event.message)
            assertEquals(pushed.id, JSONObject(message.message).getString("id"))
            assertEquals(listOf(event.queueId), live.ack(event.queueId).ids)
            live.stop()
            assertFailsWith<DidCommException.Closed> { live.recv() }

            // Rotation, then a message that announces it.
            val rotated = bob.rotate()
            assertEquals(bobDid, rotated.priorDid)
            bob.send(aliceDid, basicMessage(BasicMessage("I moved")))
            val moved = pickupOne(alice)
            assertEquals(rotated.newDid, moved.sender)
            assertEquals(bobDid, moved.rotatedFrom)
            assertEquals(rotated.newDid, alice.peerDid(bobDid))
            assertNull(moved.endedRelationship)

            // Alice ends the relationship: anoncrypt, no `from`, from_prior without `sub`.
            alice.endRelationship(rotated.newDid)
            val ended = pickupOne(bob)
            assertEquals(aliceDid, ended.endedRelationship)
            assertNull(ended.sender)
            assertFalse(ended.metadata.authenticated)
            val claims = assertNotNull(ended.metadata.fromPrior)
            assertEquals(aliceDid, claims.iss)
            assertNull(claims.sub)
        }
    }

    @Test fun `an unreachable mediator is a typed error`(): Unit = runBlocking {
        val nowhere = generateIdentity(IdentityMethod.PEER2, DidCommService(uri = "http://127.0.0.1:${freePort()}/didcomm"))
        val device = agent()
        withTimeout(step.toMillis()) {
            val e = assertFailsWith<DidCommException.Unreachable> { device.connect(nowhere.did) }
            assertTrue(e.reason.contains("attempts"), e.reason)
            assertFailsWith<DidCommException.NotConnected> { device.pickup() }
        }
    }
}

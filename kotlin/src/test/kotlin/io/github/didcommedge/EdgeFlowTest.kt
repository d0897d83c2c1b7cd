package io.github.didcommedge

import java.io.File
import java.net.ServerSocket
import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.net.http.WebSocket
import java.nio.file.Files
import java.sql.DriverManager
import java.time.Duration
import java.util.concurrent.CompletionStage
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withContext
import kotlinx.coroutines.withTimeout
import org.json.JSONObject
import org.junit.jupiter.api.Assumptions.assumeTrue
import kotlin.test.AfterTest
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertNotNull
import kotlin.test.assertTrue

/**
 * The edge flow on the JVM against a real mediator process (127.0.0.1): a sender routes messages
 * through the mediator, the device picks them up with Message Pickup 3.0 over HTTP, then gets one
 * pushed live over a WebSocket. Mediation is not wired into the mediator on main yet: the
 * device's grant is written into the mediator's SQLite database between two starts.
 */
class EdgeFlowTest {
    private val step = Duration.ofSeconds(20)
    private val pickup = "https://didcomm.org/messagepickup/3.0"
    private val dataDir = Files.createTempDirectory("didcomm-edge-mediator").toFile()
    private val port = ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress()).use { it.localPort }
    private val url = "http://127.0.0.1:$port"
    private var process: Process? = null
    private var mediatorDid = ""
    private val http = HttpClient.newBuilder().connectTimeout(step).build()

    private fun binary(): File {
        val bin = File(System.getProperty("didcomm.mediator") ?: "../target/debug/didcomm-edge-mediator")
        assumeTrue(bin.canExecute(), "build the mediator first: cargo build -p didcomm-edge-mediator")
        return bin
    }

    private fun start(pinned: File) {
        val p = ProcessBuilder(
            binary().path, "--listen", "127.0.0.1:$port", "--data-dir", dataDir.path,
            "--pinned-did-docs", pinned.path, "--no-qr", "--admin-listen", "off",
        ).redirectError(ProcessBuilder.Redirect.DISCARD).start()
        process = p
        val reader = p.inputStream.bufferedReader()
        val deadline = System.nanoTime() + step.toNanos()
        while (true) {
            val line = assertNotNull(reader.readLine(), "the mediator exited")
            if (line.startsWith("mediator DID: ")) mediatorDid = line.removePrefix("mediator DID: ").trim()
            if (line.startsWith("listening on ")) break
            assertTrue(System.nanoTime() < deadline, "the mediator did not start")
        }
    }

    private fun stop() {
        val p = process ?: return
        p.destroy() // SIGTERM: graceful stop
        if (!p.waitFor(step.seconds, TimeUnit.SECONDS)) p.destroyForcibly()
        process = null
    }

    @AfterTest fun cleanUp() {
        stop()
        dataDir.deleteRecursively()
    }

    private fun post(packed: String): HttpResponse<String> = http.send(
        HttpRequest.newBuilder(URI("$url/didcomm")).timeout(step)
            .header("Content-Type", "application/didcomm-encrypted+json")
            .POST(HttpRequest.BodyPublishers.ofString(packed)).build(),
        HttpResponse.BodyHandlers.ofString(),
    )

    @Test fun `route, pick up over HTTP, then live delivery over a WebSocket`(): Unit = runBlocking {
        binary()
        val pinned = File(dataDir.parentFile, "${dataDir.name}-pinned.json")
        val sender = generateIdentity(IdentityMethod.PEER2)
        pinned.writeText(JSONObject().put("did_docs", listOf(JSONObject(sender.document))).toString())
        start(pinned)
        stop()
        // The device sends everything through the mediator: its URL, the mediator's key as routing key.
        val mediatorDoc = JSONObject(File(dataDir, "mediator-identity.json").readText()).getJSONArray("did_docs").getJSONObject(0)
        val ka = mediatorDoc.getJSONArray("keyAgreement").get(0)
        val mediatorKey = (if (ka is JSONObject) ka.getString("id") else ka as String)
            .let { if (it.startsWith("#")) mediatorDoc.getString("id") + it else it }
        val device = generateIdentity(IdentityMethod.PEER2, DidCommService(uri = "$url/didcomm", routingKeys = listOf(mediatorKey)))
        pinned.writeText(JSONObject().put("did_docs", listOf(JSONObject(sender.document), JSONObject(device.document))).toString())
        DriverManager.getConnection("jdbc:sqlite:${File(dataDir, "mediator.sqlite").path}").use { db ->
            db.prepareStatement("INSERT INTO grants (did, routing_did, granted_at) VALUES (?, ?, 1)").use {
                it.setString(1, device.did); it.setString(2, mediatorDid); it.executeUpdate()
            }
            db.prepareStatement("INSERT INTO keys (key, did) VALUES (?, ?)").use {
                it.setString(1, device.did); it.setString(2, device.did); it.executeUpdate()
            }
        }
        start(pinned)

        val senderDc = Wallet().apply { addIdentity(sender); addDocument(device.document) }.didComm()
        val deviceDc = Wallet().apply { addIdentity(device); addDocument(sender.document) }.didComm()

        suspend fun send(text: String): JSONObject {
            val message = basicMessage(BasicMessage(text), JSONObject().put("from", sender.did).put("to", listOf(device.did)).toString())
            val packed = senderDc.packEncrypted(message, device.did, PackEncryptedOptions(from = sender.did))
            val routed = senderDc.route(packed.packed, device.did)
            assertEquals("$url/didcomm", routed.uri)
            val response = withContext(Dispatchers.IO) { post(routed.message) }
            assertEquals(202, response.statusCode(), response.body())
            return JSONObject(message)
        }

        suspend fun request(name: String, fields: JSONObject): ProtocolMessage {
            val request = buildProtocolMessage("$pickup/$name", fields.toString(), JSONObject().put("from", device.did).put("to", listOf(mediatorDid)).toString())
            val packed = deviceDc.packEncrypted(request, mediatorDid, PackEncryptedOptions(from = device.did))
            val response = withContext(Dispatchers.IO) { post(packed.packed) }
            assertEquals(200, response.statusCode(), "$name: ${response.body()}")
            val reply = deviceDc.unpack(response.body())
            assertTrue(reply.metadata.authenticated)
            assertEquals(JSONObject(request).getString("id"), JSONObject(reply.message).optString("thid"))
            return parseProtocolMessage(reply.message)
        }

        withTimeout(step.toMillis() * 6) {
            val sent = (0 until 3).map { send("hello $it") }
            assertEquals(3, JSONObject(request("status-request", JSONObject()).fields).getInt("message_count"))
            val delivery = request("delivery-request", JSONObject().put("limit", 10))
            assertEquals("$pickup/delivery", delivery.messageType)
            val items = JSONObject(delivery.fields).getJSONArray("messages")
            assertEquals(3, items.length())
            val received = (0 until items.length()).map { deviceDc.unpack(items.getJSONObject(it).getString("message")) }
            assertEquals(sent.map { it.getString("id") }.sorted(), received.map { JSONObject(it.message).getString("id") }.sorted())
            received.forEach { assertTrue(it.metadata.authenticated); assertEquals(sender.did, JSONObject(it.message).getString("from")) }
            val ids = (0 until items.length()).map { items.getJSONObject(it).getString("id") }
            val after = request("messages-received", JSONObject().put("message_id_list", ids))
            assertEquals(0, JSONObject(after.fields).getInt("message_count"))

            // Live delivery over a WebSocket.
            val frames = LinkedBlockingQueue<String>()
            val ws = http.newWebSocketBuilder().connectTimeout(step)
                .buildAsync(URI("ws://127.0.0.1:$port/ws"), object : WebSocket.Listener {
                    private val text = StringBuilder()
                    override fun onText(webSocket: WebSocket, data: CharSequence, last: Boolean): CompletionStage<*>? {
                        text.append(data)
                        if (last) { frames.add(text.toString()); text.setLength(0) }
                        webSocket.request(1)
                        return null
                    }
                }).get(step.seconds, TimeUnit.SECONDS)
            try {
                val change = buildProtocolMessage("$pickup/live-delivery-change", """{"live_delivery":true}""",
                    JSONObject().put("from", device.did).put("to", listOf(mediatorDid)).toString())
                ws.sendText(deviceDc.packEncrypted(change, mediatorDid, PackEncryptedOptions(from = device.did)).packed, true)
                    .get(step.seconds, TimeUnit.SECONDS)
                val status = withContext(Dispatchers.IO) { frames.poll(step.seconds, TimeUnit.SECONDS) }
                assertTrue(JSONObject(parseProtocolMessage(deviceDc.unpack(assertNotNull(status)).message).fields).getBoolean("live_delivery"))
                val live = send("pushed")
                val frame = withContext(Dispatchers.IO) { frames.poll(step.seconds, TimeUnit.SECONDS) }
                val pushed = parseProtocolMessage(deviceDc.unpack(assertNotNull(frame, "nothing was pushed")).message)
                assertEquals("$pickup/delivery", pushed.messageType)
                val item = JSONObject(pushed.fields).getJSONArray("messages").getJSONObject(0)
                val inner = deviceDc.unpack(item.getString("message"))
                assertEquals(live.getString("id"), JSONObject(inner.message).getString("id"))
                assertEquals("pushed", parseBasicMessage(inner.message).content)
            } finally {
                ws.sendClose(WebSocket.NORMAL_CLOSURE, "done")
            }
        }
        pinned.delete()
    }
}

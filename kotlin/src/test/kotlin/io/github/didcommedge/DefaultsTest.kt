package io.github.didcommedge

import java.io.File
import org.json.JSONObject
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertTrue

/** The defaults table (testdata/defaults.json), which every language's tests check. */
class DefaultsTest {
    // Maven runs the tests in kotlin/.
    private val table = JSONObject(File("../testdata/defaults.json").readText())

    @Test
    fun unpackOptionsDefaultToTheTable() {
        val o = UnpackOptions()
        val unpack = table.getJSONObject("unpack")
        assertEquals(unpack.getBoolean("expect_decrypt_by_all_keys"), o.expectDecryptByAllKeys)
        assertEquals(unpack.getBoolean("unwrap_re_wrapping_forward"), o.unwrapReWrappingForward)
        assertEquals(unpack.getBoolean("require_body"), o.requireBody)
        assertEquals(unpack.getBoolean("check_recipient_in_to"), o.checkRecipientInTo)
        assertEquals(unpack.getBoolean("reject_expired"), o.rejectExpired)
        assertEquals(unpack.getBoolean("check_from_prior_times"), o.checkFromPriorTimes)
        assertTrue(unpack.isNull("now") && o.now == null)
    }

    @Test
    fun configDefaultsToTheTable() {
        val config = table.getJSONObject("config")
        val built = Config()
        // What an engine built without a Config uses (an unset time to live is the default).
        val effective = DidComm(ResolverChain(), InMemorySecretsStore()).use { it.config() }
        for (c in listOf(built, effective)) {
            assertEquals(config.getLong("max_message_size").toULong(), c.maxMessageSize)
            assertEquals(config.getLong("did_cache_capacity").toULong(), c.didCacheCapacity)
            assertEquals(config.getLong("secret_cache_capacity").toULong(), c.secretCacheCapacity)
            assertEquals(config.getLong("static_secret_cache_capacity").toULong(), c.staticSecretCacheCapacity)
            assertEquals(config.getLong("max_forward_unwraps").toULong(), c.maxForwardUnwraps)
        }
        assertEquals(null, built.didCacheTtlSeconds)
        assertEquals(config.getLong("did_cache_ttl_seconds").toULong(), effective.didCacheTtlSeconds)
    }

    @Test
    fun bodylessAndExpiredPlaintextsBehaveAsTheTableSays() {
        val behaviour = table.getJSONObject("behaviour")
        DidComm(ResolverChain(), InMemorySecretsStore()).use { dc ->
            val bodyless = try {
                dc.unpackBlocking("""{"id":"1","type":"https://example.com/t"}""")
                "accepted"
            } catch (e: DidCommException) {
                "refused"
            }
            assertEquals(behaviour.getString("plaintext_without_body"), bodyless)
            val expired = try {
                val result = dc.unpackBlocking("""{"id":"2","type":"https://example.com/t","body":{},"expires_time":1}""")
                if (result.metadata.expired) "reported" else "ignored"
            } catch (e: DidCommException) {
                "refused"
            }
            assertEquals(behaviour.getString("expired_message"), expired)
        }
    }
}

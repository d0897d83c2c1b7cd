package io.github.didcommedge

import java.io.File
import java.math.BigInteger
import java.security.KeyPairGenerator
import java.security.interfaces.ECPrivateKey
import java.security.interfaces.ECPublicKey
import java.security.interfaces.EdECPrivateKey
import java.security.interfaces.EdECPublicKey
import java.security.interfaces.XECPrivateKey
import java.security.interfaces.XECPublicKey
import java.security.spec.ECGenParameterSpec
import java.util.Base64
import java.util.UUID
import org.json.JSONArray
import org.json.JSONObject

/** The vectors folder, testdata/vectors (`-Ddidcomm.vectors`, set by the pom). */
val vectorsDir: File = File(System.getProperty("didcomm.vectors") ?: "../testdata/vectors")

fun readJson(relative: String): JSONObject = JSONObject(File(vectorsDir, relative).readText())

/** `bob` is ids/spec-bob.json, `bob-rust` is ids/rust-bob.json (the vectors' naming). */
fun walletFile(name: String): String {
    val parts = name.split("-", limit = 2)
    val path = if (parts.size == 2 && parts[1] == "rust") "ids/rust-${parts[0]}.json" else "ids/spec-$name.json"
    return File(vectorsDir, path).readText()
}

/** Same JSON value, member order aside. */
fun sameJson(a: String, b: Any): Boolean = JSONObject(a).similar(if (b is String) JSONObject(b) else b)

/** Metadata in the vectors' normalized form. */
fun normalized(m: UnpackMetadata): JSONObject = JSONObject()
    .put("encrypted", m.encrypted)
    .put("authenticated", m.authenticated)
    .put("non_repudiation", m.nonRepudiation)
    .put("anonymous_sender", m.anonymousSender)
    .put("re_wrapped_in_forward", m.reWrappedInForward)
    .put("encrypted_from", m.encryptedFromKid ?: JSONObject.NULL)
    .put("encrypted_to", m.encryptedToKids?.sorted()?.let { JSONArray(it) } ?: JSONObject.NULL)
    .put("sign_from", m.signFrom ?: JSONObject.NULL)
    .put("enc_alg_auth", m.encAlgAuth ?: JSONObject.NULL)
    .put("enc_alg_anon", m.encAlgAnon ?: JSONObject.NULL)
    .put("sign_alg", m.signAlg ?: JSONObject.NULL)
    .put("from_prior_issuer_kid", m.fromPriorIssuerKid ?: JSONObject.NULL)

fun sortedExpected(expected: JSONObject): JSONObject {
    val e = JSONObject(expected.toString())
    val to = e.opt("encrypted_to")
    if (to is JSONArray) e.put("encrypted_to", JSONArray(to.map { it as String }.sorted()))
    return e
}

private fun b64u(bytes: ByteArray): String = Base64.getUrlEncoder().withoutPadding().encodeToString(bytes)

/** An unsigned big-endian integer in exactly `size` bytes. */
private fun fixed(n: BigInteger, size: Int): ByteArray {
    val raw = n.toByteArray().dropWhile { it == 0.toByte() }.toByteArray()
    return ByteArray(size - raw.size) + raw
}

private val EC_CURVES = mapOf("P-256" to ("secp256r1" to 32), "P-384" to ("secp384r1" to 48), "P-521" to ("secp521r1" to 66))

/** A fresh key made by the JDK (an implementation independent of ours): private and public JWK. */
fun jwkPair(crv: String): Pair<JSONObject, JSONObject> {
    when (crv) {
        "X25519" -> {
            val kp = KeyPairGenerator.getInstance("X25519").generateKeyPair()
            val u = (kp.public as XECPublicKey).u
            val x = fixed(u, 32).reversedArray() // RFC 7748: little-endian
            val d = (kp.private as XECPrivateKey).scalar.get()
            val public = JSONObject().put("kty", "OKP").put("crv", crv).put("x", b64u(x))
            return JSONObject(public.toString()).put("d", b64u(d)) to public
        }
        "Ed25519" -> {
            val kp = KeyPairGenerator.getInstance("Ed25519").generateKeyPair()
            val point = (kp.public as EdECPublicKey).point
            val encoded = fixed(point.y, 32).reversedArray() // RFC 8032: little-endian y, x sign in the top bit
            if (point.isXOdd) encoded[31] = (encoded[31].toInt() or 0x80).toByte()
            val d = (kp.private as EdECPrivateKey).bytes.get()
            val public = JSONObject().put("kty", "OKP").put("crv", crv).put("x", b64u(encoded))
            return JSONObject(public.toString()).put("d", b64u(d)) to public
        }
        else -> {
            val (name, size) = EC_CURVES.getValue(crv)
            val gen = KeyPairGenerator.getInstance("EC")
            gen.initialize(ECGenParameterSpec(name))
            val kp = gen.generateKeyPair()
            val w = (kp.public as ECPublicKey).w
            val public = JSONObject().put("kty", "EC").put("crv", crv)
                .put("x", b64u(fixed(w.affineX, size))).put("y", b64u(fixed(w.affineY, size)))
            val d = fixed((kp.private as ECPrivateKey).s, size)
            return JSONObject(public.toString()).put("d", b64u(d)) to public
        }
    }
}

val KA_CURVES = listOf("X25519", "P-256", "P-384", "P-521")
val SIGN_CURVES = listOf("Ed25519", "P-256")
val SIGN_ALG = mapOf("Ed25519" to "EdDSA", "P-256" to "ES256")

/** `did:example:<name>` with one key agreement and one signing key per curve (JsonWebKey2020). */
class Party(val name: String, ka: List<String> = KA_CURVES, sign: List<String> = SIGN_CURVES) {
    val did = "did:example:$name"
    val doc = JSONObject().put("id", did).put("verificationMethod", JSONArray())
        .put("authentication", JSONArray()).put("keyAgreement", JSONArray())
    val secrets = mutableListOf<JSONObject>()
    val kaKids = mutableMapOf<String, String>()
    val signKids = mutableMapOf<String, String>()

    init {
        for ((curves, purpose, relationship, kids) in listOf(
            Quad(ka, "ka", "keyAgreement", kaKids), Quad(sign, "sign", "authentication", signKids),
        )) {
            for (crv in curves) {
                val kid = "$did#$purpose-${crv.lowercase().replace("-", "")}"
                val (private, public) = jwkPair(crv)
                doc.getJSONArray("verificationMethod").put(
                    JSONObject().put("id", kid).put("type", "JsonWebKey2020").put("controller", did).put("publicKeyJwk", public),
                )
                doc.getJSONArray(relationship).put(kid)
                secrets.add(JSONObject().put("kid", kid).put("type", "JsonWebKey2020").put("privateKeyJwk", private))
                kids[crv] = kid
            }
        }
    }

    /** A wallet with this party's secrets and every given party's document. */
    fun wallet(vararg others: Party): Wallet {
        val file = JSONObject()
            .put("did_docs", JSONArray(listOf(doc) + others.map { it.doc }))
            .put("secrets", JSONArray(secrets))
        return Wallet(file.toString())
    }
}

data class Quad<A, B, C, D>(val a: A, val b: B, val c: C, val d: D)

fun newMessage(from: String, to: String, extra: Map<String, Any> = emptyMap()): String {
    val m = JSONObject()
        .put("id", UUID.randomUUID().toString())
        .put("typ", "application/didcomm-plain+json")
        .put("type", "https://example.com/protocols/test/1.0/hello")
        .put("from", from)
        .put("to", JSONArray(listOf(to)))
        .put("created_time", 1700000000)
        .put("body", JSONObject().put("text", "hello").put("n", 7))
    extra.forEach { (k, v) -> m.put(k, v) }
    return m.toString()
}

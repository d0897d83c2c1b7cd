//! Asymmetric keys: parsing, key agreement, signatures.
//!
//! Keys are parsed once (from JWK or multibase) into the primitive crates' own types and kept
//! that way: an Ed25519 signing key keeps its expanded secret, NIST public keys keep their
//! validated affine point. Parsing validates: NIST points must be on their curve, X25519 shared
//! secrets must not be all-zero (low-order points), Ed25519 keys must decompress.

use crate::prelude::*;

use core::fmt;

use ed25519_dalek::hazmat::{raw_sign, ExpandedSecretKey};
use ed25519_dalek::Signature as EdSignature;
#[cfg(any(feature = "p256", feature = "p384", feature = "p521", feature = "k256"))]
use elliptic_curve::sec1::ToEncodedPoint;
use rand_core::OsRng;
use sha2::Sha512;
use zeroize::Zeroizing;

use crate::error::{Error, ErrorKind, Result};

/// A key type: the curve and what it is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum KeyType {
    /// Ed25519 signatures (EdDSA).
    Ed25519,
    /// X25519 key agreement.
    X25519,
    /// NIST P-256: key agreement and ES256 signatures.
    P256,
    /// NIST P-384: key agreement.
    P384,
    /// NIST P-521: key agreement.
    P521,
    /// secp256k1: ES256K signatures and key agreement.
    Secp256k1,
}

impl KeyType {
    /// All key types, in the order we prefer them for key agreement.
    pub const ALL: [KeyType; 6] = [
        KeyType::X25519,
        KeyType::P256,
        KeyType::P384,
        KeyType::P521,
        KeyType::Secp256k1,
        KeyType::Ed25519,
    ];

    /// The JWK `kty` for this key type.
    pub fn jwk_kty(self) -> &'static str {
        match self {
            KeyType::Ed25519 | KeyType::X25519 => "OKP",
            _ => "EC",
        }
    }

    /// The JWK `crv` for this key type.
    pub fn jwk_crv(self) -> &'static str {
        match self {
            KeyType::Ed25519 => "Ed25519",
            KeyType::X25519 => "X25519",
            KeyType::P256 => "P-256",
            KeyType::P384 => "P-384",
            KeyType::P521 => "P-521",
            KeyType::Secp256k1 => "secp256k1",
        }
    }

    /// The key type named by a JWK `crv`.
    pub fn from_jwk_crv(crv: &str) -> Option<KeyType> {
        Some(match crv {
            "Ed25519" => KeyType::Ed25519,
            "X25519" => KeyType::X25519,
            "P-256" => KeyType::P256,
            "P-384" => KeyType::P384,
            "P-521" => KeyType::P521,
            "secp256k1" => KeyType::Secp256k1,
            _ => return None,
        })
    }

    /// Whether the key type can do ECDH key agreement.
    pub fn can_agree(self) -> bool {
        !matches!(self, KeyType::Ed25519)
    }

    /// Length of a field element / coordinate in bytes.
    pub(crate) fn coordinate_len(self) -> usize {
        match self {
            KeyType::Ed25519 | KeyType::X25519 | KeyType::P256 | KeyType::Secp256k1 => 32,
            KeyType::P384 => 48,
            KeyType::P521 => 66,
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.jwk_crv())
    }
}

/// A JWS signature algorithm supported for DIDComm signed messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SignAlg {
    /// Ed25519.
    EdDsa,
    /// ECDSA on P-256 with SHA-256.
    Es256,
    /// ECDSA on secp256k1 with SHA-256.
    Es256K,
}

impl SignAlg {
    /// The JOSE `alg` name.
    pub fn as_str(self) -> &'static str {
        match self {
            SignAlg::EdDsa => "EdDSA",
            SignAlg::Es256 => "ES256",
            SignAlg::Es256K => "ES256K",
        }
    }

    /// Parse a JOSE `alg` name.
    pub fn parse(alg: &str) -> Option<SignAlg> {
        Some(match alg {
            "EdDSA" => SignAlg::EdDsa,
            "ES256" => SignAlg::Es256,
            "ES256K" => SignAlg::Es256K,
            _ => return None,
        })
    }

    /// The key type that signs with this algorithm.
    pub fn key_type(self) -> KeyType {
        match self {
            SignAlg::EdDsa => KeyType::Ed25519,
            SignAlg::Es256 => KeyType::P256,
            SignAlg::Es256K => KeyType::Secp256k1,
        }
    }

    /// The algorithm a key type signs with, if it signs at all.
    pub fn for_key_type(key_type: KeyType) -> Option<SignAlg> {
        match key_type {
            KeyType::Ed25519 => Some(SignAlg::EdDsa),
            KeyType::P256 => Some(SignAlg::Es256),
            KeyType::Secp256k1 => Some(SignAlg::Es256K),
            _ => None,
        }
    }
}

impl fmt::Display for SignAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A parsed, validated public key.
#[derive(Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// Ed25519 verification key.
    Ed25519(ed25519_dalek::VerifyingKey),
    /// X25519 key agreement key.
    X25519(x25519_dalek::PublicKey),
    /// P-256 key (on-curve checked).
    #[cfg(feature = "p256")]
    P256(p256::PublicKey),
    /// P-384 key (on-curve checked).
    #[cfg(feature = "p384")]
    P384(p384::PublicKey),
    /// P-521 key (on-curve checked).
    #[cfg(feature = "p521")]
    P521(p521::PublicKey),
    /// secp256k1 key (on-curve checked).
    #[cfg(feature = "k256")]
    Secp256k1(k256::PublicKey),
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.key_type())
    }
}

/// A curve whose feature this build leaves out (a sensor build keeps only what it uses).
#[cfg_attr(
    all(feature = "p256", feature = "p384", feature = "p521", feature = "k256"),
    allow(dead_code)
)]
fn not_in_build(key_type: KeyType) -> Error {
    Error::unsupported(format!(
        "{key_type} keys are not in this build of didcomm-edge"
    ))
}

fn bad_key(key_type: KeyType) -> Error {
    Error::malformed(format!("invalid {key_type} public key"))
}

impl PublicKey {
    /// The key's type.
    pub fn key_type(&self) -> KeyType {
        match self {
            PublicKey::Ed25519(_) => KeyType::Ed25519,
            PublicKey::X25519(_) => KeyType::X25519,
            #[cfg(feature = "p256")]
            PublicKey::P256(_) => KeyType::P256,
            #[cfg(feature = "p384")]
            PublicKey::P384(_) => KeyType::P384,
            #[cfg(feature = "p521")]
            PublicKey::P521(_) => KeyType::P521,
            #[cfg(feature = "k256")]
            PublicKey::Secp256k1(_) => KeyType::Secp256k1,
        }
    }

    /// Parse raw public bytes: 32 bytes for the Edwards/Montgomery curves, a SEC1 point
    /// (compressed or uncompressed) for the Weierstrass curves. Points are validated.
    pub fn from_bytes(key_type: KeyType, bytes: &[u8]) -> Result<PublicKey> {
        match key_type {
            KeyType::Ed25519 => {
                let arr: [u8; 32] = bytes.try_into().map_err(|_| bad_key(key_type))?;
                let key =
                    ed25519_dalek::VerifyingKey::from_bytes(&arr).map_err(|_| bad_key(key_type))?;
                // A small-order key would verify signatures that prove nothing.
                if key.is_weak() {
                    return Err(Error::malformed(
                        "Ed25519 public key is a small-order point",
                    ));
                }
                Ok(PublicKey::Ed25519(key))
            }
            KeyType::X25519 => {
                let arr: [u8; 32] = bytes.try_into().map_err(|_| bad_key(key_type))?;
                Ok(PublicKey::X25519(x25519_dalek::PublicKey::from(arr)))
            }
            #[cfg(feature = "p256")]
            KeyType::P256 => p256::PublicKey::from_sec1_bytes(bytes)
                .map(PublicKey::P256)
                .map_err(|_| bad_key(key_type)),
            #[cfg(feature = "p384")]
            KeyType::P384 => p384::PublicKey::from_sec1_bytes(bytes)
                .map(PublicKey::P384)
                .map_err(|_| bad_key(key_type)),
            #[cfg(feature = "p521")]
            KeyType::P521 => p521::PublicKey::from_sec1_bytes(bytes)
                .map(PublicKey::P521)
                .map_err(|_| bad_key(key_type)),
            #[cfg(feature = "k256")]
            KeyType::Secp256k1 => k256::PublicKey::from_sec1_bytes(bytes)
                .map(PublicKey::Secp256k1)
                .map_err(|_| bad_key(key_type)),
            #[cfg(not(all(
                feature = "p256",
                feature = "p384",
                feature = "p521",
                feature = "k256"
            )))]
            _ => Err(not_in_build(key_type)),
        }
    }

    /// Build a Weierstrass key from its affine coordinates (as in a JWK), validating the point.
    pub fn from_coordinates(key_type: KeyType, x: &[u8], y: &[u8]) -> Result<PublicKey> {
        let len = key_type.coordinate_len();
        if matches!(key_type, KeyType::Ed25519 | KeyType::X25519) {
            return Err(Error::malformed(format!(
                "{key_type} keys have no y coordinate"
            )));
        }
        // RFC 7518 6.2.1.2 wants full-length coordinates, but deployed writers (the reference
        // Python library, through Authlib) drop leading zero bytes: read those as the same
        // number. Longer or empty coordinates are still refused; the point is validated below.
        let valid = |c: &[u8]| !c.is_empty() && c.len() <= len;
        if !valid(x) || !valid(y) {
            return Err(Error::malformed(format!(
                "{key_type} coordinates must be {len} bytes each"
            )));
        }
        let mut sec1 = Vec::with_capacity(1 + 2 * len);
        sec1.push(0x04);
        for coordinate in [x, y] {
            sec1.resize(sec1.len() + (len - coordinate.len()), 0);
            sec1.extend_from_slice(coordinate);
        }
        PublicKey::from_bytes(key_type, &sec1)
    }

    /// Raw bytes: 32 bytes for Ed25519/X25519, the compressed SEC1 point otherwise.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            PublicKey::Ed25519(k) => k.to_bytes().to_vec(),
            PublicKey::X25519(k) => k.as_bytes().to_vec(),
            #[cfg(feature = "p256")]
            PublicKey::P256(k) => k.to_encoded_point(true).as_bytes().to_vec(),
            #[cfg(feature = "p384")]
            PublicKey::P384(k) => k.to_encoded_point(true).as_bytes().to_vec(),
            #[cfg(feature = "p521")]
            PublicKey::P521(k) => k.to_encoded_point(true).as_bytes().to_vec(),
            #[cfg(feature = "k256")]
            PublicKey::Secp256k1(k) => k.to_encoded_point(true).as_bytes().to_vec(),
        }
    }

    /// The JWK `x` (and `y` for EC keys) coordinates.
    pub(crate) fn coordinates(&self) -> (Vec<u8>, Option<Vec<u8>>) {
        #[cfg(any(feature = "p256", feature = "p384", feature = "p521", feature = "k256"))]
        fn xy(point: &[u8]) -> (Vec<u8>, Option<Vec<u8>>) {
            // Uncompressed SEC1: 0x04 || x || y with equal halves.
            let coords = point.get(1..).unwrap_or_default();
            let (x, y) = coords.split_at(coords.len() / 2);
            (x.to_vec(), Some(y.to_vec()))
        }
        match self {
            PublicKey::Ed25519(k) => (k.to_bytes().to_vec(), None),
            PublicKey::X25519(k) => (k.as_bytes().to_vec(), None),
            #[cfg(feature = "p256")]
            PublicKey::P256(k) => xy(k.to_encoded_point(false).as_bytes()),
            #[cfg(feature = "p384")]
            PublicKey::P384(k) => xy(k.to_encoded_point(false).as_bytes()),
            #[cfg(feature = "p521")]
            PublicKey::P521(k) => xy(k.to_encoded_point(false).as_bytes()),
            #[cfg(feature = "k256")]
            PublicKey::Secp256k1(k) => xy(k.to_encoded_point(false).as_bytes()),
        }
    }

    /// The X25519 key that corresponds to an Ed25519 key (birational map), as did:key derives it.
    pub fn ed25519_to_x25519(&self) -> Result<PublicKey> {
        match self {
            PublicKey::Ed25519(k) => Ok(PublicKey::X25519(x25519_dalek::PublicKey::from(
                k.to_montgomery().to_bytes(),
            ))),
            other => Err(Error::illegal_argument(format!(
                "only Ed25519 keys convert to X25519, not {}",
                other.key_type()
            ))),
        }
    }

    /// Verify a JWS signature made with `alg` over `message`.
    pub fn verify(&self, alg: SignAlg, message: &[u8], signature: &[u8]) -> Result<()> {
        let invalid = || Error::new(ErrorKind::InvalidSignature, "signature does not verify");
        match (alg, self) {
            (SignAlg::EdDsa, PublicKey::Ed25519(vk)) => {
                use ed25519_dalek::Verifier;
                let sig = EdSignature::from_slice(signature).map_err(|_| invalid())?;
                // Equivalent to `verify_strict` (weak keys are refused when parsed, small-order R
                // here by its encoding), without decompressing R: one field exponentiation less.
                if has_small_order_encoding(sig.r_bytes()) {
                    return Err(invalid());
                }
                vk.verify(message, &sig).map_err(|_| invalid())
            }
            #[cfg(feature = "p256")]
            (SignAlg::Es256, PublicKey::P256(pk)) => {
                use p256::ecdsa::signature::Verifier;
                let sig = p256::ecdsa::Signature::from_slice(signature).map_err(|_| invalid())?;
                p256::ecdsa::VerifyingKey::from(pk)
                    .verify(message, &sig)
                    .map_err(|_| invalid())
            }
            #[cfg(feature = "k256")]
            (SignAlg::Es256K, PublicKey::Secp256k1(pk)) => {
                use k256::ecdsa::signature::Verifier;
                let sig = k256::ecdsa::Signature::from_slice(signature).map_err(|_| invalid())?;
                // JOSE does not require low-S; k256 does. Accept both forms of the same signature.
                let sig = sig.normalize_s().unwrap_or(sig);
                k256::ecdsa::VerifyingKey::from(pk)
                    .verify(message, &sig)
                    .map_err(|_| invalid())
            }
            (alg, key) => Err(Error::new(
                ErrorKind::InvalidSignature,
                format!("{alg} signatures cannot come from a {} key", key.key_type()),
            )),
        }
    }
}

/// The secret half of a key pair. Zeroized on drop by the primitive crates.
enum SecretKey {
    /// The seed plus its expansion, so signing skips the per-signature SHA-512 of the seed.
    Ed25519 {
        seed: Zeroizing<[u8; 32]>,
        expanded: Box<ExpandedSecretKey>,
    },
    X25519(x25519_dalek::StaticSecret),
    /// Kept as a signing key: it caches the public point, so signing does no extra scalar
    /// multiplication, and it serves ECDH through its scalar.
    #[cfg(feature = "p256")]
    P256(p256::ecdsa::SigningKey),
    #[cfg(feature = "p384")]
    P384(p384::SecretKey),
    #[cfg(feature = "p521")]
    P521(p521::SecretKey),
    #[cfg(feature = "k256")]
    Secp256k1(k256::ecdsa::SigningKey),
}

/// A key pair we hold the secret of. Not `Clone`: share it behind an `Arc`.
pub struct KeyPair {
    public: PublicKey,
    secret: SecretKey,
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyPair({}, secret redacted)", self.public.key_type())
    }
}

fn bad_secret(key_type: KeyType) -> Error {
    Error::malformed(format!("invalid {key_type} private key"))
}

impl KeyPair {
    /// Build a key pair from raw secret bytes (the 32-byte seed for Ed25519, the scalar for the
    /// others).
    pub fn from_secret_bytes(key_type: KeyType, bytes: &[u8]) -> Result<KeyPair> {
        match key_type {
            KeyType::Ed25519 => {
                let seed: [u8; 32] = bytes.try_into().map_err(|_| bad_secret(key_type))?;
                let expanded = ExpandedSecretKey::from(&seed);
                let public = ed25519_dalek::VerifyingKey::from(&expanded);
                Ok(KeyPair {
                    public: PublicKey::Ed25519(public),
                    secret: SecretKey::Ed25519 {
                        seed: Zeroizing::new(seed),
                        expanded: Box::new(expanded),
                    },
                })
            }
            KeyType::X25519 => {
                let mut arr: [u8; 32] = bytes.try_into().map_err(|_| bad_secret(key_type))?;
                let secret = x25519_dalek::StaticSecret::from(arr);
                zeroize::Zeroize::zeroize(&mut arr);
                Ok(KeyPair {
                    public: PublicKey::X25519(x25519_dalek::PublicKey::from(&secret)),
                    secret: SecretKey::X25519(secret),
                })
            }
            #[cfg(feature = "p256")]
            KeyType::P256 => {
                let sk =
                    p256::ecdsa::SigningKey::from_slice(bytes).map_err(|_| bad_secret(key_type))?;
                Ok(KeyPair {
                    public: PublicKey::P256(sk.verifying_key().into()),
                    secret: SecretKey::P256(sk),
                })
            }
            #[cfg(feature = "p384")]
            KeyType::P384 => {
                let sk = p384::SecretKey::from_slice(bytes).map_err(|_| bad_secret(key_type))?;
                Ok(KeyPair {
                    public: PublicKey::P384(sk.public_key()),
                    secret: SecretKey::P384(sk),
                })
            }
            #[cfg(feature = "p521")]
            KeyType::P521 => {
                let sk = p521::SecretKey::from_slice(bytes).map_err(|_| bad_secret(key_type))?;
                Ok(KeyPair {
                    public: PublicKey::P521(sk.public_key()),
                    secret: SecretKey::P521(sk),
                })
            }
            #[cfg(feature = "k256")]
            KeyType::Secp256k1 => {
                let sk =
                    k256::ecdsa::SigningKey::from_slice(bytes).map_err(|_| bad_secret(key_type))?;
                Ok(KeyPair {
                    public: PublicKey::Secp256k1(sk.verifying_key().into()),
                    secret: SecretKey::Secp256k1(sk),
                })
            }
            #[cfg(not(all(
                feature = "p256",
                feature = "p384",
                feature = "p521",
                feature = "k256"
            )))]
            _ => Err(not_in_build(key_type)),
        }
    }

    /// A fresh random key pair.
    pub fn generate(key_type: KeyType) -> Result<KeyPair> {
        match key_type {
            KeyType::Ed25519 => {
                let mut seed = Zeroizing::new([0u8; 32]);
                crate::crypto::random::fill(seed.as_mut())?;
                KeyPair::from_secret_bytes(key_type, seed.as_ref())
            }
            KeyType::X25519 => {
                let secret = x25519_dalek::StaticSecret::random_from_rng(OsRng);
                Ok(KeyPair {
                    public: PublicKey::X25519(x25519_dalek::PublicKey::from(&secret)),
                    secret: SecretKey::X25519(secret),
                })
            }
            #[cfg(feature = "p256")]
            KeyType::P256 => {
                let sk = p256::ecdsa::SigningKey::random(&mut OsRng);
                Ok(KeyPair {
                    public: PublicKey::P256(sk.verifying_key().into()),
                    secret: SecretKey::P256(sk),
                })
            }
            #[cfg(feature = "p384")]
            KeyType::P384 => {
                let sk = p384::SecretKey::random(&mut OsRng);
                Ok(KeyPair {
                    public: PublicKey::P384(sk.public_key()),
                    secret: SecretKey::P384(sk),
                })
            }
            #[cfg(feature = "p521")]
            KeyType::P521 => {
                let sk = p521::SecretKey::random(&mut OsRng);
                Ok(KeyPair {
                    public: PublicKey::P521(sk.public_key()),
                    secret: SecretKey::P521(sk),
                })
            }
            #[cfg(feature = "k256")]
            KeyType::Secp256k1 => {
                let sk = k256::ecdsa::SigningKey::random(&mut OsRng);
                Ok(KeyPair {
                    public: PublicKey::Secp256k1(sk.verifying_key().into()),
                    secret: SecretKey::Secp256k1(sk),
                })
            }
            #[cfg(not(all(
                feature = "p256",
                feature = "p384",
                feature = "p521",
                feature = "k256"
            )))]
            _ => Err(not_in_build(key_type)),
        }
    }

    /// The public half.
    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    /// The key type.
    pub fn key_type(&self) -> KeyType {
        self.public.key_type()
    }

    /// The raw secret bytes (seed or scalar), for export into a wallet file.
    pub fn secret_bytes(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(match &self.secret {
            SecretKey::Ed25519 { seed, .. } => seed.to_vec(),
            SecretKey::X25519(s) => s.to_bytes().to_vec(),
            #[cfg(feature = "p256")]
            SecretKey::P256(s) => s.to_bytes().to_vec(),
            #[cfg(feature = "p384")]
            SecretKey::P384(s) => s.to_bytes().to_vec(),
            #[cfg(feature = "p521")]
            SecretKey::P521(s) => s.to_bytes().to_vec(),
            #[cfg(feature = "k256")]
            SecretKey::Secp256k1(s) => s.to_bytes().to_vec(),
        })
    }

    /// The X25519 key pair derived from an Ed25519 one (as libsodium and did:key do).
    pub fn ed25519_to_x25519(&self) -> Result<KeyPair> {
        match &self.secret {
            SecretKey::Ed25519 { seed, .. } => {
                use sha2::Digest;
                let hash = Zeroizing::new(<[u8; 64]>::from(Sha512::digest(seed.as_ref())));
                KeyPair::from_secret_bytes(KeyType::X25519, hash.get(..32).unwrap_or_default())
            }
            _ => Err(Error::illegal_argument(format!(
                "only Ed25519 keys convert to X25519, not {}",
                self.key_type()
            ))),
        }
    }

    /// ECDH with `their` key; returns the shared secret Z (the x coordinate for NIST curves).
    pub fn agree(&self, their: &PublicKey) -> Result<Zeroizing<Vec<u8>>> {
        let z = match (&self.secret, their) {
            (SecretKey::X25519(sk), PublicKey::X25519(pk)) => {
                let shared = x25519(sk, pk);
                // A low-order peer point yields all zeros; RFC 7748 section 6.1 says to refuse.
                if shared.iter().all(|b| *b == 0) {
                    return Err(Error::malformed("X25519 public key is a low-order point"));
                }
                shared.to_vec()
            }
            #[cfg(feature = "p256")]
            (SecretKey::P256(sk), PublicKey::P256(pk)) => {
                p256::ecdh::diffie_hellman(sk.as_nonzero_scalar(), pk.as_affine())
                    .raw_secret_bytes()
                    .to_vec()
            }
            #[cfg(feature = "p384")]
            (SecretKey::P384(sk), PublicKey::P384(pk)) => {
                p384::ecdh::diffie_hellman(sk.to_nonzero_scalar(), pk.as_affine())
                    .raw_secret_bytes()
                    .to_vec()
            }
            #[cfg(feature = "p521")]
            (SecretKey::P521(sk), PublicKey::P521(pk)) => {
                p521::ecdh::diffie_hellman(sk.to_nonzero_scalar(), pk.as_affine())
                    .raw_secret_bytes()
                    .to_vec()
            }
            #[cfg(feature = "k256")]
            (SecretKey::Secp256k1(sk), PublicKey::Secp256k1(pk)) => {
                k256::ecdh::diffie_hellman(sk.as_nonzero_scalar(), pk.as_affine())
                    .raw_secret_bytes()
                    .to_vec()
            }
            _ => {
                return Err(Error::new(
                    ErrorKind::NoCompatibleKeys,
                    format!(
                        "cannot agree a {} key with a {} key",
                        self.key_type(),
                        their.key_type()
                    ),
                ))
            }
        };
        Ok(Zeroizing::new(z))
    }

    /// Sign `message` with the algorithm of this key type.
    pub fn sign(&self, message: &[u8]) -> Result<(SignAlg, Vec<u8>)> {
        match (&self.secret, &self.public) {
            (SecretKey::Ed25519 { expanded, .. }, PublicKey::Ed25519(vk)) => {
                let sig = raw_sign::<Sha512>(expanded, message, vk);
                Ok((SignAlg::EdDsa, sig.to_bytes().to_vec()))
            }
            #[cfg(feature = "p256")]
            (SecretKey::P256(sk), _) => {
                use p256::ecdsa::signature::Signer;
                let sig: p256::ecdsa::Signature = sk.sign(message);
                Ok((SignAlg::Es256, sig.to_bytes().to_vec()))
            }
            #[cfg(feature = "k256")]
            (SecretKey::Secp256k1(sk), _) => {
                use k256::ecdsa::signature::Signer;
                let sig: k256::ecdsa::Signature = sk.sign(message);
                Ok((SignAlg::Es256K, sig.to_bytes().to_vec()))
            }
            _ => Err(Error::unsupported(format!(
                "{} keys cannot sign DIDComm messages",
                self.key_type()
            ))),
        }
    }
}

/// X25519 (RFC 7748). For points on the curve, the same clamped scalar multiplication is done
/// on the Edwards form, where curve25519-dalek uses its vectorized (AVX2) backend: about a fifth
/// faster than the Montgomery ladder. Twist points and u = -1, which have no Edwards form, take
/// the ladder. Both give identical results (checked in the tests).
fn x25519(
    secret: &x25519_dalek::StaticSecret,
    public: &x25519_dalek::PublicKey,
) -> Zeroizing<[u8; 32]> {
    let point = curve25519_dalek::montgomery::MontgomeryPoint(*public.as_bytes());
    match point.to_edwards(0) {
        Some(edwards) => {
            let scalar = Zeroizing::new(secret.to_bytes());
            Zeroizing::new(edwards.mul_clamped(*scalar).to_montgomery().to_bytes())
        }
        None => Zeroizing::new(*secret.diffie_hellman(public).as_bytes()),
    }
}

/// Whether a point encoding is one of the eight small-order points (either sign bit) or one of
/// the non-canonical encodings of y = 0 and y = 1: the signature R values `verify_strict`
/// refuses.
fn has_small_order_encoding(encoding: &[u8; 32]) -> bool {
    use crate::sync::OnceLock;
    static TABLE: OnceLock<Vec<[u8; 32]>> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t: Vec<[u8; 32]> = curve25519_dalek::constants::EIGHT_TORSION
            .iter()
            .map(|p| p.compress().to_bytes())
            .collect();
        // y = p (that is 0) and y = p + 1 (that is 1), written without reduction.
        let mut y_p = [0xffu8; 32];
        y_p[0] = 0xed;
        y_p[31] = 0x7f;
        let mut y_p1 = y_p;
        y_p1[0] = 0xee;
        t.push(y_p);
        t.push(y_p1);
        for e in &mut t {
            e[31] &= 0x7f;
        }
        t
    });
    let mut unsigned = *encoding;
    unsigned[31] &= 0x7f;
    table.contains(&unsigned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x25519_fast_path_matches_the_ladder() {
        use rand_core::RngCore;
        for i in 0..200 {
            let a = x25519_dalek::StaticSecret::random_from_rng(OsRng);
            // Random 32-byte strings: about half are twist points, which take the ladder.
            let mut u = [0u8; 32];
            OsRng.fill_bytes(&mut u);
            if i % 2 == 0 {
                u = *x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::random_from_rng(
                    OsRng,
                ))
                .as_bytes();
            }
            let public = x25519_dalek::PublicKey::from(u);
            assert_eq!(
                *x25519(&a, &public),
                *a.diffie_hellman(&public).as_bytes(),
                "{u:?}"
            );
        }
        // Small-order points (including u = 0, 1 and -1) agree too, all-zero or not.
        for p in curve25519_dalek::constants::EIGHT_TORSION {
            let public = x25519_dalek::PublicKey::from(p.to_montgomery().to_bytes());
            let a = x25519_dalek::StaticSecret::random_from_rng(OsRng);
            assert_eq!(*x25519(&a, &public), *a.diffie_hellman(&public).as_bytes());
        }
        let mut minus_one = [0xffu8; 32];
        minus_one[0] = 0xec;
        minus_one[31] = 0x7f;
        let a = x25519_dalek::StaticSecret::random_from_rng(OsRng);
        let public = x25519_dalek::PublicKey::from(minus_one);
        assert_eq!(*x25519(&a, &public), *a.diffie_hellman(&public).as_bytes());
    }

    #[test]
    fn small_order_r_and_weak_keys_are_refused() {
        let k = KeyPair::generate(KeyType::Ed25519).unwrap();
        let (_, sig) = k.sign(b"m").unwrap();
        for torsion in curve25519_dalek::constants::EIGHT_TORSION {
            let mut forged = sig.clone();
            forged[..32].copy_from_slice(&torsion.compress().to_bytes());
            assert!(has_small_order_encoding(forged[..32].try_into().unwrap()));
            assert!(k.public().verify(SignAlg::EdDsa, b"m", &forged).is_err());
            assert!(
                PublicKey::from_bytes(KeyType::Ed25519, &torsion.compress().to_bytes()).is_err()
            );
        }
        assert!(!has_small_order_encoding(sig[..32].try_into().unwrap()));
    }

    #[test]
    fn agree_is_symmetric_on_every_curve() {
        for kt in KeyType::ALL.into_iter().filter(|k| k.can_agree()) {
            let a = KeyPair::generate(kt).unwrap();
            let b = KeyPair::generate(kt).unwrap();
            assert_eq!(
                *a.agree(b.public()).unwrap(),
                *b.agree(a.public()).unwrap(),
                "{kt}"
            );
            let again = KeyPair::from_secret_bytes(kt, &a.secret_bytes()).unwrap();
            assert_eq!(again.public(), a.public());
        }
    }

    #[test]
    fn sign_verify_round_trip() {
        for kt in [KeyType::Ed25519, KeyType::P256, KeyType::Secp256k1] {
            let k = KeyPair::generate(kt).unwrap();
            let (alg, sig) = k.sign(b"hello").unwrap();
            k.public().verify(alg, b"hello", &sig).unwrap();
            let err = k.public().verify(alg, b"hellO", &sig).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidSignature);
        }
    }

    #[test]
    fn low_order_x25519_point_is_refused() {
        let k = KeyPair::generate(KeyType::X25519).unwrap();
        let zero = PublicKey::from_bytes(KeyType::X25519, &[0u8; 32]).unwrap();
        assert_eq!(k.agree(&zero).unwrap_err().kind(), ErrorKind::Malformed);
    }

    #[test]
    fn off_curve_point_is_refused() {
        let k = KeyPair::generate(KeyType::P256).unwrap();
        let (x, y) = k.public().coordinates();
        let mut y = y.unwrap();
        y[5] ^= 1;
        assert!(PublicKey::from_coordinates(KeyType::P256, &x, &y).is_err());
    }

    #[test]
    fn coordinates_without_leading_zero_bytes_are_the_same_key() {
        for key_type in [KeyType::P256, KeyType::P521] {
            let len = key_type.coordinate_len();
            // About one key in 128 has a coordinate with a leading zero byte.
            let (pair, x, y) = (0..100_000)
                .find_map(|_| {
                    let pair = KeyPair::generate(key_type).unwrap();
                    let (x, y) = pair.public().coordinates();
                    let y = y.unwrap();
                    (x[0] == 0 || y[0] == 0).then_some((pair, x, y))
                })
                .unwrap();
            let strip = |c: &[u8]| {
                c.iter()
                    .skip_while(|b| **b == 0)
                    .copied()
                    .collect::<Vec<u8>>()
            };
            let short = PublicKey::from_coordinates(key_type, &strip(&x), &strip(&y)).unwrap();
            assert_eq!(&short, pair.public());
            let mut long = x.clone();
            long.insert(0, 0);
            assert!(PublicKey::from_coordinates(key_type, &long, &y).is_err());
            assert!(PublicKey::from_coordinates(key_type, &[], &y).is_err());
            assert_eq!(x.len(), len);
        }
    }

    #[test]
    fn mismatched_curves_are_refused() {
        let a = KeyPair::generate(KeyType::X25519).unwrap();
        let b = KeyPair::generate(KeyType::P256).unwrap();
        assert_eq!(
            a.agree(b.public()).unwrap_err().kind(),
            ErrorKind::NoCompatibleKeys
        );
    }
}

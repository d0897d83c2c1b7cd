//! `didcomm-edge resolve DID`: print the DID document.

use std::path::PathBuf;
use std::sync::Arc;

use clap::ValueEnum;
use didcomm_edge::did::{did_of, DidKeyFormat, DidResolver};
use didcomm_edge::{Error, ErrorKind, ResolverChain};

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum KeyFormat {
    /// `Multikey` with `publicKeyMultibase`.
    Multikey,
    /// `JsonWebKey2020` with `publicKeyJwk`.
    Jwk,
    /// `Ed25519VerificationKey2020` / `X25519KeyAgreementKey2020`.
    Suite2020,
    /// The 2018/2019 suites with `publicKeyBase58`.
    Legacy,
}

impl From<KeyFormat> for DidKeyFormat {
    fn from(f: KeyFormat) -> Self {
        match f {
            KeyFormat::Multikey => DidKeyFormat::Multikey,
            KeyFormat::Jwk => DidKeyFormat::JsonWebKey2020,
            KeyFormat::Suite2020 => DidKeyFormat::Suite2020,
            KeyFormat::Legacy => DidKeyFormat::Legacy,
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct ResolveArgs {
    /// The DID (or DID URL: its DID part is resolved).
    did: String,
    /// Wallet file(s) whose documents are consulted first; repeat to combine.
    #[arg(long)]
    wallet: Vec<PathBuf>,
    /// How did:key and did:peer:0 documents write their keys.
    #[arg(long, value_enum, default_value = "multikey")]
    key_format: KeyFormat,
    /// Fetch did:web DIDs of 127.0.0.1 / localhost over plain HTTP (local testing only).
    #[arg(long)]
    allow_loopback_http: bool,
}

pub async fn run(args: ResolveArgs) -> Result<String, Error> {
    let wallet = crate::load_wallet(&args.wallet)?;
    let web = if args.allow_loopback_http {
        didcomm_edge_web::loopback_resolver()?
    } else {
        didcomm_edge_web::resolver()?
    };
    let chain = ResolverChain::new()
        .with_pinned(Arc::new(wallet.resolver()))
        .with_did_key_format(args.key_format.into())
        .with_web(web);
    let did = did_of(&args.did);
    let doc = chain
        .resolve(did)
        .await
        .map_err(|e| e.context(format!("resolving {did}")))?
        .ok_or_else(|| Error::new(ErrorKind::DidNotResolved, format!("{did} did not resolve")))?;
    serde_json::to_string_pretty(&doc)
        .map_err(|_| Error::new(ErrorKind::InvalidState, "the document does not serialize"))
}

//! `didcomm-edge keys new --method peer2|peer4|key`: print a wallet file for a new identity.

use clap::{Subcommand, ValueEnum};
use didcomm_edge::{DidCommService, Error, ErrorKind, Identity, IdentityMethod};

#[derive(clap::Args, Debug)]
pub struct KeysArgs {
    #[command(subcommand)]
    command: KeysCommand,
}

#[derive(Subcommand, Debug)]
enum KeysCommand {
    /// Generate a new identity; print it as a wallet file {"did_docs": [...], "secrets": [...]}.
    New(NewArgs),
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum Method {
    /// did:peer:2 (Ed25519 + X25519, optional DIDComm service).
    Peer2,
    /// Long form did:peer:4 (the wallet also holds its short form).
    Peer4,
    /// did:key for an Ed25519 key (key agreement with the derived X25519 key).
    Key,
}

#[derive(clap::Args, Debug)]
struct NewArgs {
    /// DID method of the new identity.
    #[arg(long, value_enum)]
    method: Method,
    /// DIDComm service endpoint URI (or a mediator's DID) to publish in the DID.
    #[arg(long)]
    service: Option<String>,
    /// Routing key (a mediator's key DID URL) of the service; repeat for several.
    #[arg(long = "routing-key", num_args = 1..)]
    routing_key: Vec<String>,
}

pub fn run(args: KeysArgs) -> Result<String, Error> {
    let KeysCommand::New(args) = args.command;
    if args.service.is_none() && !args.routing_key.is_empty() {
        return Err(Error::new(
            ErrorKind::IllegalArgument,
            "--routing-key needs --service",
        ));
    }
    let service = args
        .service
        .map(|uri| DidCommService::new(uri).with_routing_keys(args.routing_key));
    let method = match args.method {
        Method::Peer2 => IdentityMethod::Peer2,
        Method::Peer4 => IdentityMethod::Peer4,
        Method::Key => IdentityMethod::Key,
    };
    Identity::generate(method, service.as_ref())?
        .to_wallet()?
        .to_json_pretty()
}

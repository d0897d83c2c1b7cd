//! `didcomm-edge`: pack, unpack and benchmark DIDComm v2 messages, resolve DIDs and generate
//! identities from the command line.
//!
//! Every failure exits with status 2 and one line on stderr: `error: <kind>: <reason>`.

mod bench;
mod keys;
mod resolve;

use std::io::{Read, Write};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};
use didcomm_edge::message::ParseOptions;
use didcomm_edge::{
    ContentEncAlg, DidComm, Error, ErrorKind, Message, PackEncryptedOptions, ResolverChain,
    UnpackOptions, Wallet,
};
use serde_json::json;

#[derive(Parser, Debug)]
#[command(
    name = "didcomm-edge",
    version,
    about = "DIDComm v2 messaging from the command line"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Pack the plaintext message read on stdin; print the packed message.
    Pack(PackArgs),
    /// Unpack the message read on stdin; print {"message": ..., "metadata": ...}.
    Unpack(UnpackArgs),
    /// Measure in-process pack/unpack throughput (operations per second).
    Bench(bench::BenchArgs),
    /// Resolve a DID (did:key, did:peer, did:jwk, did:web, or a wallet's); print its document.
    Resolve(resolve::ResolveArgs),
    /// Generate identities.
    Keys(keys::KeysArgs),
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum Mode {
    Plaintext,
    Signed,
    Authcrypt,
    Anoncrypt,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum Enc {
    #[value(name = "A256CBC-HS512")]
    A256CbcHs512,
    #[value(name = "A256GCM")]
    A256Gcm,
    #[value(name = "XC20P")]
    Xc20P,
}

impl From<Enc> for ContentEncAlg {
    fn from(e: Enc) -> Self {
        match e {
            Enc::A256CbcHs512 => ContentEncAlg::A256CbcHs512,
            Enc::A256Gcm => ContentEncAlg::A256Gcm,
            Enc::Xc20P => ContentEncAlg::Xc20P,
        }
    }
}

#[derive(clap::Args, Debug)]
struct WalletArgs {
    /// Wallet file(s): {"did_docs": [...], "secrets": [...]}; repeat to combine.
    #[arg(long, required = true)]
    wallet: Vec<std::path::PathBuf>,
}

#[derive(clap::Args, Debug)]
struct PackArgs {
    #[command(flatten)]
    wallet: WalletArgs,
    /// Envelope to produce.
    #[arg(long, value_enum)]
    mode: Mode,
    /// Sender DID or key id (authcrypt; for signed, the signer when --sign-by is absent).
    #[arg(long)]
    from: Option<String>,
    /// Recipient DID or key ids (several key ids of one DID may be given).
    #[arg(long, num_args = 1..)]
    to: Vec<String>,
    /// Sign with this DID or key id before encrypting.
    #[arg(long)]
    sign_by: Option<String>,
    /// Content encryption (authcrypt allows only A256CBC-HS512).
    #[arg(long, value_enum)]
    enc: Option<Enc>,
    /// Hide the sender with an outer anoncrypt layer (authcrypt only).
    #[arg(long)]
    protect_sender: bool,
}

#[derive(clap::Args, Debug)]
struct UnpackArgs {
    #[command(flatten)]
    wallet: WalletArgs,
    /// Refuse messages without 'body' (the DIDComm v2.0 rule).
    #[arg(long)]
    require_body: bool,
    /// Refuse expired messages instead of reporting them.
    #[arg(long)]
    reject_expired: bool,
    /// Accept messages whose 'to' does not list the recipient.
    #[arg(long)]
    allow_recipient_not_in_to: bool,
    /// Do not unwrap forwards addressed to us.
    #[arg(long)]
    no_unwrap_forward: bool,
}

fn main() -> ExitCode {
    // A panic is a bug, but even then the contract holds: one line, status 2, no backtrace.
    std::panic::set_hook(Box::new(|_| {
        eprintln!("error: invalid_state: internal error (please report this bug)");
        std::process::exit(2);
    }));
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind as ClapKind;
            if matches!(e.kind(), ClapKind::DisplayHelp | ClapKind::DisplayVersion) {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("bad arguments");
            let first = first.trim_start_matches("error: ");
            eprintln!("error: illegal_argument: {first}");
            return ExitCode::from(2);
        }
    };
    // I/O and timers: did:web resolution fetches over HTTPS.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(_) => {
            eprintln!("error: invalid_state: cannot start the async runtime");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(output) => {
            let mut stdout = std::io::stdout().lock();
            if writeln!(stdout, "{output}").is_err() {
                return ExitCode::from(2);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {}: {}", e.kind(), e.reason().replace('\n', " "));
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> Result<String, Error> {
    match cli.command {
        Command::Pack(args) => pack(args).await,
        Command::Unpack(args) => unpack(args).await,
        Command::Bench(args) => bench::run(args).await,
        Command::Resolve(args) => resolve::run(args).await,
        Command::Keys(args) => keys::run(args),
    }
}

fn read_stdin() -> Result<String, Error> {
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input).map_err(|_| {
        Error::new(
            ErrorKind::IllegalArgument,
            "cannot read stdin as UTF-8 text",
        )
    })?;
    Ok(input)
}

/// The wallet files, merged.
fn load_wallet(paths: &[std::path::PathBuf]) -> Result<Wallet, Error> {
    let mut wallet = Wallet::default();
    for path in paths {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::new(
                ErrorKind::IllegalArgument,
                format!("cannot read wallet {}: {}", path.display(), e.kind()),
            )
        })?;
        wallet.merge(Wallet::from_json(&text).map_err(|e| e.context(path.display()))?);
    }
    Ok(wallet)
}

/// An engine over the wallet's secrets that resolves the built-in DID methods itself, the
/// wallet's documents taking precedence.
fn load_engine(args: &WalletArgs) -> Result<DidComm, Error> {
    let wallet = load_wallet(&args.wallet)?;
    let resolver = ResolverChain::new()
        .with_pinned(Arc::new(wallet.resolver()))
        .with_web(didcomm_edge_web::resolver()?);
    Ok(DidComm::new(
        Arc::new(resolver),
        Arc::new(wallet.secrets_store()),
    ))
}

async fn pack(args: PackArgs) -> Result<String, Error> {
    let engine = load_engine(&args.wallet)?;
    let message = Message::from_json(&read_stdin()?, ParseOptions::default())
        .map_err(|e| e.context("stdin"))?;
    let illegal = |reason: &str| Error::new(ErrorKind::IllegalArgument, reason);
    match args.mode {
        Mode::Plaintext => engine.pack_plaintext(&message),
        Mode::Signed => {
            let signer = args
                .sign_by
                .as_deref()
                .or(args.from.as_deref())
                .ok_or_else(|| illegal("signed mode needs --sign-by (or --from)"))?;
            Ok(engine.pack_signed(&message, signer).await?.0)
        }
        Mode::Authcrypt | Mode::Anoncrypt => {
            let (to, to_kids) = recipient(&args.to)?;
            let from = match args.mode {
                Mode::Authcrypt => Some(
                    args.from
                        .as_deref()
                        .ok_or_else(|| illegal("authcrypt needs --from"))?,
                ),
                _ => None,
            };
            if args.protect_sender && from.is_none() {
                return Err(illegal("--protect-sender applies to authcrypt only"));
            }
            let enc = args.enc.map(ContentEncAlg::from).unwrap_or_default();
            if from.is_some() && enc != ContentEncAlg::A256CbcHs512 && !args.protect_sender {
                return Err(illegal("authcrypt allows only --enc A256CBC-HS512"));
            }
            let options = PackEncryptedOptions::default()
                .protect_sender(args.protect_sender)
                .enc_alg_anon(enc)
                .to_kids(to_kids);
            let (packed, _) = engine
                .pack_encrypted(&message, &to, from, args.sign_by.as_deref(), &options)
                .await?;
            Ok(packed)
        }
    }
}

/// `--to` values: one DID, or key ids of one DID.
fn recipient(to: &[String]) -> Result<(String, Vec<String>), Error> {
    let first = to
        .first()
        .ok_or_else(|| Error::new(ErrorKind::IllegalArgument, "encrypted modes need --to"))?;
    let did = didcomm_edge::did::did_of(first).to_owned();
    if to.iter().any(|t| didcomm_edge::did::did_of(t) != did) {
        return Err(Error::new(
            ErrorKind::IllegalArgument,
            "--to values must all belong to one DID (pack once per recipient DID)",
        ));
    }
    let kids = to.iter().filter(|t| t.contains('#')).cloned().collect();
    Ok((did, kids))
}

async fn unpack(args: UnpackArgs) -> Result<String, Error> {
    let engine = load_engine(&args.wallet)?;
    let options = UnpackOptions::default()
        .require_body(args.require_body)
        .reject_expired(args.reject_expired)
        .check_recipient_in_to(!args.allow_recipient_not_in_to)
        .unwrap_re_wrapping_forward(!args.no_unwrap_forward);
    let (message, metadata) = engine.unpack(read_stdin()?.trim(), &options).await?;
    let out = json!({"message": message, "metadata": metadata});
    serde_json::to_string_pretty(&out)
        .map_err(|_| Error::new(ErrorKind::InvalidState, "output does not serialize"))
}

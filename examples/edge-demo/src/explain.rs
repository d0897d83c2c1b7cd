//! What each step showed: how a device connected, how a message was packed and wrapped, what
//! the mediator could see of it, what a device decrypted, what a `from_prior` says.

use std::path::Path;
use std::sync::Arc;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine as _};
use didcomm_edge::{DidComm, Message, ResolverChain, UnpackOptions, Wallet};
use didcomm_edge_agent::{EdgeAgent, Received, Sent};
use serde_json::Value;

use crate::printer::{head, short_id, Names, Printer};
use crate::scenario::{ensure, err, DemoResult};

/// How `agent` connected: mediation request and grant, its messaging DID and service, the
/// keylist update.
pub async fn explain_connection(
    out: &mut Printer,
    names: &Names,
    (who, their): (&str, &str),
    agent: &EdgeAgent,
    c: &didcomm_edge_agent::Connection,
) -> DemoResult<()> {
    let version = match agent.config().mediation_version {
        didcomm_edge::protocols::mediation::MediationVersion::V2 => "2.0",
        _ => "3.0",
    };
    out.say(&format!(
        "{who} → mediator: mediate-request (Coordinate Mediation {version}, authcrypt from {})",
        names.show(agent.control_did())
    ));
    out.say(&format!(
        "mediator → {who}: mediate-grant, routing_did = {}",
        c.routing_did
            .iter()
            .map(|d| names.show(d))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let doc = agent.didcomm().resolve(&c.did).await.map_err(err)?;
    let endpoint = doc
        .document()
        .didcomm_endpoints()
        .into_iter()
        .next()
        .ok_or_else(|| format!("{who}'s DID has no DIDComm service"))?;
    out.say(&format!(
        "{who} makes {their} messaging DID {}…",
        head(&c.did, 40)
    ));
    out.say(&format!(
        "  its DIDCommMessaging service: uri = {}{}",
        names.show(&endpoint.uri),
        if endpoint.routing_keys.is_empty() {
            String::new()
        } else {
            format!(", routingKeys = {:?}", endpoint.routing_keys)
        }
    ));
    out.say(&format!(
        "{who} → mediator: keylist-update add {} → success",
        names.show(&c.did)
    ));
    Ok(())
}

/// How `sent` was packed, wrapped and delivered.
pub fn explain_sent(out: &mut Printer, names: &Names, sent: &Sent) {
    out.say(&format!(
        "packed for {} (authcrypt): {} bytes{}",
        names.show(&sent.to),
        sent.packed.len(),
        if sent.announced_rotation {
            ", carrying from_prior"
        } else {
            ""
        }
    ));
    out.say(&format!(
        "wrapped in {} forward layer(s) for {} → {} bytes POSTed to {}",
        sent.hops.len(),
        sent.hops
            .iter()
            .map(|h| names.show(h))
            .collect::<Vec<_>>()
            .join(", "),
        sent.wire.len(),
        sent.uri
    ));
}

/// What the mediator could see of `sent`, opened with its own keys (its identity file at
/// `path`): a forward it can open, and inside a message it cannot.
pub async fn show_mediator_view(
    out: &mut Printer,
    names: &Names,
    path: &Path,
    sent: &Sent,
) -> DemoResult<()> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let wallet = Wallet::from_json(&text).map_err(err)?;
    let mediator = DidComm::new(
        Arc::new(
            ResolverChain::new()
                .with_pinned(Arc::new(wallet.resolver()))
                .with_web(didcomm_edge_web::resolver().map_err(err)?),
        ),
        Arc::new(wallet.secrets_store()),
    );
    let outer: Value = serde_json::from_str(&sent.wire).map_err(|e| e.to_string())?;
    let header = outer
        .get("protected")
        .and_then(Value::as_str)
        .and_then(|p| B64.decode(p).ok())
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .unwrap_or(Value::Null);
    out.say(&format!(
        "on the wire: a JWE, alg {}, enc {}, for {} (no sender: anoncrypt)",
        header.get("alg").and_then(Value::as_str).unwrap_or("?"),
        header.get("enc").and_then(Value::as_str).unwrap_or("?"),
        recipients(&outer)
            .iter()
            .map(|k| names.show(k))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let (forward, _) = mediator.unwrap_forward(&sent.wire).await.map_err(err)?;
    out.say(&format!(
        "the mediator opens it: a routing forward, next = {}",
        names.show(&forward.next)
    ));
    for attached in &forward.messages {
        let inner: Value = serde_json::from_str(attached).map_err(|e| e.to_string())?;
        out.say(&format!(
            "  attachment: another JWE of {} bytes, for {}",
            attached.len(),
            recipients(&inner)
                .iter()
                .map(|k| names.show(k))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        match mediator.unpack(attached, &UnpackOptions::default()).await {
            Ok(_) => return Err("the mediator could read the message it forwards".to_owned()),
            Err(e) => out.say(&format!(
                "  the mediator cannot open it ({}): it stores it for Bob, unread",
                e.kind()
            )),
        }
    }
    ensure(forward.next == sent.to, "the forward should name Bob's DID")
}

/// The `kid`s a JWE is encrypted for.
fn recipients(jwe: &Value) -> Vec<String> {
    jwe.get("recipients")
        .and_then(Value::as_array)
        .map(|rs| {
            rs.iter()
                .filter_map(|r| r.get("header")?.get("kid")?.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// What `who` decrypted: the headers that matter in the story.
pub fn show_received(out: &mut Printer, names: &Names, who: &str, r: &Received) {
    let m: &Message = &r.message;
    out.say(&format!(
        "{who} decrypted ({} bytes as delivered):",
        r.packed_len
    ));
    out.item(&format!("type: {}", m.type_));
    out.item(&format!(
        "from: {} (authenticated: {})",
        m.from
            .as_deref()
            .map(|f| names.show(f))
            .unwrap_or_else(|| "anonymous".into()),
        r.metadata.authenticated
    ));
    if let Some(to) = &m.to {
        out.item(&format!(
            "to: {}",
            to.iter()
                .map(|t| names.show(t))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if let Some((prior, new)) = r.rotation() {
        out.item(&format!(
            "from_prior verified: {} rotated to {}",
            names.show(&prior),
            names.show(&new)
        ));
    }
    if m.please_ack.is_some() {
        out.item("please_ack: the sender wants an acknowledgement");
    }
    if let Some(ack) = &m.ack {
        out.item(&format!(
            "ack: {}",
            ack.iter()
                .map(|a| short_id(a))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if let Some(thid) = &m.thid {
        out.item(&format!("thread: {}", short_id(thid)));
    }
    if let Some(body) = &m.body {
        if body.as_object().is_some_and(|o| !o.is_empty()) {
            out.item(&format!("body: {body}"));
        }
    }
}

/// A `from_prior` JWT: who signed it, the prior and the new DID.
pub fn show_from_prior(out: &mut Printer, names: &Names, jwt: &str) {
    let mut parts = jwt.split('.');
    let decode = |p: Option<&str>| -> Value {
        p.and_then(|p| B64.decode(p).ok())
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or(Value::Null)
    };
    let header = decode(parts.next());
    let claims = decode(parts.next());
    let field = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("?").to_owned();
    out.item(&format!(
        "header: alg {}, signed with {}",
        field(&header, "alg"),
        names.show(&field(&header, "kid"))
    ));
    out.item(&format!(
        "iss (prior): {}",
        names.show(&field(&claims, "iss"))
    ));
    out.item(&format!(
        "sub (new):   {}",
        names.show(&field(&claims, "sub"))
    ));
}

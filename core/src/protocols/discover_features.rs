//! Discover Features 2.0: ask which protocols, goal codes and headers a peer supports
//! (`queries`), and answer (`disclose`), possibly without being asked.

use crate::prelude::*;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{check_type, new_message, threading, Body, ProtocolMessage};
use crate::error::{Error, Result};
use crate::message::Message;

/// The protocol identifier.
pub const DISCOVER_FEATURES_PIURI: &str = "https://didcomm.org/discover-features/2.0";
/// `queries`.
pub const QUERIES_TYPE: &str = "https://didcomm.org/discover-features/2.0/queries";
/// `disclose`.
pub const DISCLOSE_TYPE: &str = "https://didcomm.org/discover-features/2.0/disclose";

/// Feature type: a protocol, identified by its PIURI.
pub const FEATURE_PROTOCOL: &str = "protocol";
/// Feature type: a goal code.
pub const FEATURE_GOAL_CODE: &str = "goal-code";
/// Feature type: a message header, identified by its name.
pub const FEATURE_HEADER: &str = "header";

/// One query: features of a type whose id matches a pattern (`*` matches any run of
/// characters, e.g. `https://didcomm.org/tictactoe/1.*`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureQuery {
    /// `protocol`, `goal-code`, `header` or another type.
    pub feature_type: String,
    /// The pattern.
    pub match_: String,
}

impl FeatureQuery {
    /// A query.
    pub fn new(feature_type: impl Into<String>, pattern: impl Into<String>) -> FeatureQuery {
        FeatureQuery {
            feature_type: feature_type.into(),
            match_: pattern.into(),
        }
    }

    /// Whether `disclosure` answers this query.
    pub fn matches(&self, disclosure: &Disclosure) -> bool {
        self.feature_type == disclosure.feature_type && wildcard_match(&self.match_, &disclosure.id)
    }
}

/// One disclosed feature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disclosure {
    /// The feature type.
    pub feature_type: String,
    /// The feature's id (a PIURI, a goal code, a header name).
    pub id: String,
    /// For protocols, the roles this agent can play (empty: not stated).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
}

impl Disclosure {
    /// A protocol with the roles played.
    pub fn protocol(piuri: impl Into<String>, roles: &[&str]) -> Disclosure {
        Disclosure {
            feature_type: FEATURE_PROTOCOL.into(),
            id: piuri.into(),
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
        }
    }

    /// A goal code.
    pub fn goal_code(code: impl Into<String>) -> Disclosure {
        Disclosure {
            feature_type: FEATURE_GOAL_CODE.into(),
            id: code.into(),
            roles: vec![],
        }
    }

    /// A header.
    pub fn header(name: impl Into<String>) -> Disclosure {
        Disclosure {
            feature_type: FEATURE_HEADER.into(),
            id: name.into(),
            roles: vec![],
        }
    }
}

/// `queries`: one or more feature queries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Queries {
    /// The queries (at least one).
    pub queries: Vec<FeatureQuery>,
}

impl ProtocolMessage for Queries {
    fn message_type(&self) -> &'static str {
        QUERIES_TYPE
    }

    fn to_message(&self) -> Result<Message> {
        if self.queries.is_empty() {
            return Err(Error::illegal_argument("queries needs at least one query"));
        }
        let queries = self
            .queries
            .iter()
            .map(|q| {
                let mut m = Map::new();
                m.insert("feature-type".into(), Value::String(q.feature_type.clone()));
                m.insert("match".into(), Value::String(q.match_.clone()));
                Value::Object(m)
            })
            .collect();
        let mut body = Map::new();
        body.insert("queries".into(), Value::Array(queries));
        new_message(QUERIES_TYPE, body)
    }

    fn from_message(message: &Message) -> Result<Self> {
        check_type(message, QUERIES_TYPE)?;
        let body = Body::of(message, "queries")?;
        let items = body
            .array("queries")?
            .ok_or_else(|| body.error("'queries' is missing"))?;
        if items.is_empty() {
            return Err(body.error("'queries' is empty"));
        }
        let queries = items
            .iter()
            .map(|item| {
                let q = Body::nested(item, "queries", "'queries' entries")?;
                Ok(FeatureQuery {
                    feature_type: q.required_string("feature-type")?,
                    match_: q.required_string("match")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Queries { queries })
    }
}

/// `disclose`: features this agent supports (in reply to `queries`, or proactively).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disclose {
    /// The disclosed features. An empty list means "nothing disclosed", not "nothing
    /// supported".
    pub disclosures: Vec<Disclosure>,
}

impl ProtocolMessage for Disclose {
    fn message_type(&self) -> &'static str {
        DISCLOSE_TYPE
    }

    fn to_message(&self) -> Result<Message> {
        let disclosures = self
            .disclosures
            .iter()
            .map(|d| {
                let mut m = Map::new();
                m.insert("feature-type".into(), Value::String(d.feature_type.clone()));
                m.insert("id".into(), Value::String(d.id.clone()));
                if !d.roles.is_empty() {
                    m.insert(
                        "roles".into(),
                        Value::Array(d.roles.iter().cloned().map(Value::String).collect()),
                    );
                }
                Value::Object(m)
            })
            .collect();
        let mut body = Map::new();
        body.insert("disclosures".into(), Value::Array(disclosures));
        new_message(DISCLOSE_TYPE, body)
    }

    fn from_message(message: &Message) -> Result<Self> {
        check_type(message, DISCLOSE_TYPE)?;
        let body = Body::of(message, "disclose")?;
        let items = body
            .array("disclosures")?
            .ok_or_else(|| body.error("'disclosures' is missing"))?;
        let disclosures = items
            .iter()
            .map(|item| {
                let d = Body::nested(item, "disclose", "'disclosures' entries")?;
                Ok(Disclosure {
                    feature_type: d.required_string("feature-type")?,
                    id: d.required_string("id")?,
                    roles: d.strings("roles")?.unwrap_or_default(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Disclose { disclosures })
    }
}

/// The features an agent is willing to disclose, and the answering logic.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FeatureRegistry {
    /// Every feature that may be disclosed.
    pub features: Vec<Disclosure>,
}

impl FeatureRegistry {
    /// A registry of `features`.
    pub fn new(features: Vec<Disclosure>) -> FeatureRegistry {
        FeatureRegistry { features }
    }

    /// The protocols of this crate with the roles a mediator plays, plus the headers it
    /// understands: a starting point for a mediator's registry.
    pub fn mediator_defaults() -> FeatureRegistry {
        use super::{basic_message, empty, mediation, oob, pickup, report_problem, trust_ping};
        FeatureRegistry::new(vec![
            Disclosure::protocol(crate::routing::ROUTING_PIURI, &["mediator"]),
            Disclosure::protocol(mediation::MEDIATION_V2_PIURI, &["mediator"]),
            Disclosure::protocol(mediation::MEDIATION_V3_PIURI, &["mediator"]),
            Disclosure::protocol(pickup::PICKUP_V3_PIURI, &["mediator"]),
            Disclosure::protocol(pickup::PICKUP_V4_PIURI, &["mediator"]),
            Disclosure::protocol(trust_ping::TRUST_PING_PIURI, &["sender", "receiver"]),
            Disclosure::protocol(DISCOVER_FEATURES_PIURI, &["responder"]),
            Disclosure::protocol(report_problem::REPORT_PROBLEM_PIURI, &[]),
            Disclosure::protocol(empty::EMPTY_PIURI, &[]),
            Disclosure::protocol(basic_message::BASIC_MESSAGE_PIURI, &["receiver"]),
            Disclosure::protocol(oob::OOB_PIURI, &["sender"]),
            Disclosure::header(super::return_route::RETURN_ROUTE_HEADER),
        ])
    }

    /// The features matching any of `queries`, each once, in registry order. Unknown feature
    /// types match nothing, as the spec asks.
    pub fn answer(&self, queries: &Queries) -> Disclose {
        Disclose {
            disclosures: self
                .features
                .iter()
                .filter(|f| queries.queries.iter().any(|q| q.matches(f)))
                .cloned()
                .collect(),
        }
    }

    /// The `disclose` reply to a received `queries` message (threaded and addressed to its
    /// sender; the caller sets `from`).
    pub fn reply(&self, queries: &Message) -> Result<Message> {
        let parsed = Queries::from_message(queries)?;
        Ok(threading::reply_to(
            queries,
            self.answer(&parsed).to_message()?,
        ))
    }
}

/// `*` matches any run of characters (including none); everything else matches itself.
fn wildcard_match(pattern: &str, value: &str) -> bool {
    let mut parts = pattern.split('*');
    let Some(first) = parts.next() else {
        return pattern == value;
    };
    let Some(mut rest) = value.strip_prefix(first) else {
        return false;
    };
    let middle_and_last: Vec<&str> = parts.collect();
    let Some((last, middle)) = middle_and_last.split_last() else {
        // No `*` at all: the prefix must be the whole value.
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = rest.get(at + part.len()..).unwrap_or_default(),
            None => return false,
        }
    }
    rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("*", "anything"));
        assert!(wildcard_match(
            "https://didcomm.org/tictactoe/1.*",
            "https://didcomm.org/tictactoe/1.0"
        ));
        assert!(!wildcard_match(
            "https://didcomm.org/tictactoe/1.*",
            "https://didcomm.org/tictactoe/2.0"
        ));
        assert!(wildcard_match(
            "org.didcomm.*",
            "org.didcomm.sell.goods.consumer"
        ));
        assert!(wildcard_match("a*b*c", "abc"));
        assert!(wildcard_match("a*b*c", "axxbyyc"));
        assert!(!wildcard_match("a*b*c", "acb"));
        assert!(!wildcard_match("ab*ba", "aba"));
        assert!(wildcard_match("exact", "exact"));
        assert!(!wildcard_match("exact", "exactly"));
    }
}

//! Counting a layer's top-level arrays before its JSON tree is built.
//!
//! The envelope limits ([`crate::Config::max_recipients`], `max_signatures`,
//! `max_attachments`) are checked on the parsed tree as well, but by then a megabyte of
//! `{"header":{"kid":"…"}}` entries has become some 20 MiB of tree. For large layers the
//! entries are counted first, in one pass that stores nothing.

use crate::prelude::*;

use core::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// Layers up to this size are parsed without counting first: whatever they hold, their tree
/// stays within a few MiB, and small messages (nearly all) are read once.
pub(crate) const COUNT_FIRST_ABOVE: usize = 64 * 1024;

/// What one pass over a layer's top level saw. Keys that occur twice count as JSON parsers
/// (serde_json's `Map` among them) read them: the last one wins.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct TopLevel {
    /// The keys of [`WATCHED`] present, each with its number of entries where it is one of
    /// [`COUNTED`] and an array.
    seen: Vec<(&'static str, Option<usize>)>,
}

/// The keys whose presence decides a layer's form (JWE, JWS, plaintext).
const WATCHED: [&str; 3] = ["ciphertext", "payload", "signature"];
/// The arrays whose entries are counted (their presence is noted too).
const COUNTED: [&str; 3] = ["recipients", "signatures", "attachments"];

impl TopLevel {
    /// Count the top level of `text`, or `None` when it is not a JSON object or not valid
    /// JSON (the parser that follows reports that, in its own words).
    pub(crate) fn scan(text: &str) -> Option<TopLevel> {
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let top = ScanTop.deserialize(&mut deserializer).ok()?;
        deserializer.end().ok()?;
        Some(top)
    }

    /// Whether the layer has `key` at its top level (only for watched and counted keys).
    pub(crate) fn has(&self, key: &str) -> bool {
        self.seen.iter().any(|(k, _)| *k == key)
    }

    /// The number of entries of the top-level array `key` (`recipients`, `signatures` or
    /// `attachments`), if it is an array.
    pub(crate) fn count(&self, key: &str) -> Option<usize> {
        self.seen
            .iter()
            .find(|(k, _)| *k == key)
            .and_then(|(_, count)| *count)
    }

    fn note(&mut self, key: &'static str, count: Option<usize>) {
        self.seen.retain(|(k, _)| *k != key);
        self.seen.push((key, count));
    }
}

struct ScanTop;

impl<'de> DeserializeSeed<'de> for ScanTop {
    type Value = TopLevel;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<TopLevel, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ScanTop {
    type Value = TopLevel;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TopLevel, A::Error> {
        let mut top = TopLevel::default();
        while let Some(key) = map.next_key::<alloc::borrow::Cow<'de, str>>()? {
            if let Some(counted) = COUNTED.iter().find(|k| **k == key) {
                let count = map.next_value_seed(CountEntries)?;
                top.note(counted, count);
            } else {
                map.next_value::<IgnoredAny>()?;
                if let Some(watched) = WATCHED.iter().find(|k| **k == key) {
                    top.note(watched, None);
                }
            }
        }
        Ok(top)
    }
}

/// The number of entries of an array (`None` for any other value), keeping none of them.
struct CountEntries;

impl<'de> DeserializeSeed<'de> for CountEntries {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for CountEntries {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut count = 0usize;
        while seq.next_element::<IgnoredAny>()?.is_some() {
            count += 1;
        }
        Ok(Some(count))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_the_top_level_arrays_and_notes_the_form_keys() {
        let top = TopLevel::scan(
            r#"{"ciphertext":"x","recipients":[{},{"a":[1,2,3]},3],"attachments":{"n":[1]},
                "other":[1,2],"payload":null}"#,
        )
        .unwrap();
        assert!(top.has("ciphertext") && top.has("payload") && top.has("recipients"));
        assert!(!top.has("signatures") && !top.has("signature"));
        assert_eq!(top.count("recipients"), Some(3));
        assert_eq!(top.count("attachments"), None);
        assert_eq!(top.count("signatures"), None);
    }

    #[test]
    fn the_last_of_duplicate_keys_counts_as_serde_json_reads_it() {
        let top = TopLevel::scan(r#"{"recipients":[1,2,3],"recipients":[1]}"#).unwrap();
        assert_eq!(top.count("recipients"), Some(1));
    }

    #[test]
    fn escaped_key_spellings_are_the_same_key() {
        let top = TopLevel::scan(r#"{"recipient\u0073":[1,2]}"#).unwrap();
        assert_eq!(top.count("recipients"), Some(2));
    }

    #[test]
    fn anything_else_is_left_to_the_parser() {
        for text in ["[1,2]", "\"x\"", "{\"a\":", "{} x", "", "{\"a\":[[[[]]]]"] {
            assert_eq!(TopLevel::scan(text), None, "{text}");
        }
    }
}

//! How the demo prints: the [`Printer`] (titles, numbered steps, indented lines, colour on a
//! terminal unless `NO_COLOR`), readable [`Names`] for the DIDs of the story, and shortening.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};

/// Readable names for the DIDs of the story.
#[derive(Debug, Default)]
pub struct Names(BTreeMap<String, String>);

impl Names {
    /// Call `did` `name` from now on.
    pub fn add(&mut self, did: &str, name: &str) {
        self.0.insert(did.to_owned(), name.to_owned());
    }

    /// A DID or DID URL by its name (with the start of the DID), else shortened.
    pub fn show(&self, did_or_url: &str) -> String {
        let (did, fragment) = match did_or_url.split_once('#') {
            Some((d, f)) => (d, Some(f)),
            None => (did_or_url, None),
        };
        match (self.0.get(did), fragment) {
            (Some(name), Some(f)) => format!("{name} #{f} ({}…)", head(did, 22)),
            (Some(name), None) => format!("{name} ({}…)", head(did, 22)),
            (None, _) => shorten(did_or_url, 48),
        }
    }
}

/// `text` in at most `max` characters: its start, `…`, its last six characters.
pub fn shorten(text: &str, max: usize) -> String {
    let count = text.chars().count();
    if count <= max {
        return text.to_owned();
    }
    let head: String = text.chars().take(max.saturating_sub(7)).collect();
    let tail: String = text.chars().skip(count.saturating_sub(6)).collect();
    format!("{head}…{tail}")
}

/// The first `n` characters (did:peer:2 DIDs differ in their first key, not in their tail).
pub fn head(text: &str, n: usize) -> String {
    text.chars().take(n).collect()
}

/// A message id, shortened.
pub fn short_id(id: &str) -> String {
    shorten(id, 13)
}

/// The demo's output: the story on stdout, the failure on stderr.
#[derive(Debug)]
pub struct Printer {
    out: std::io::Stdout,
    color: bool,
    steps: u32,
}

impl Printer {
    /// Colour when stdout is a terminal and `NO_COLOR` is not set.
    pub fn new() -> Printer {
        let out = std::io::stdout();
        let color = out.is_terminal() && std::env::var_os("NO_COLOR").is_none();
        Printer {
            out,
            color,
            steps: 0,
        }
    }

    /// One line as it is.
    pub fn line(&mut self, text: &str) {
        let _ = writeln!(self.out.lock(), "{text}");
    }

    fn styled(&mut self, code: &str, text: &str) {
        if self.color {
            self.line(&format!("\x1b[{code}m{text}\x1b[0m"));
        } else {
            self.line(text);
        }
    }

    /// The title, underlined.
    pub fn title(&mut self, text: &str) {
        self.styled(
            "1",
            &format!("\n{text}\n{}", "=".repeat(text.chars().count())),
        );
    }

    /// A phase of the story.
    pub fn phase(&mut self, text: &str) {
        self.styled("1;36", &format!("\n{text}"));
    }

    /// A numbered step.
    pub fn step(&mut self, text: &str) {
        self.steps += 1;
        self.styled("1", &format!("\n[{}] {text}", self.steps));
    }

    /// What happened in a step.
    pub fn say(&mut self, text: &str) {
        self.line(&format!("    {text}"));
    }

    /// A named value.
    pub fn kv(&mut self, key: &str, value: &str) {
        self.line(&format!("    {key:<13} {value}"));
    }

    /// An item of a list.
    pub fn item(&mut self, text: &str) {
        self.line(&format!("      · {text}"));
    }

    /// Why the demo failed (on stderr).
    pub fn fail(&mut self, text: &str) {
        let _ = writeln!(std::io::stderr(), "\nedge-demo failed: {text}");
    }
}

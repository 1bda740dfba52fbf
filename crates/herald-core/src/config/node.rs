//! The YAML document as a tree of nodes that remember where they stand in the file, so that
//! every later check (unknown keys, bad values, unset variables) can point at a line and column
//! and all of them can be reported at once instead of stopping at serde's first error.

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// A position in a config file, 1-based; line 0 means unknown.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    pub line: u64,
    pub column: u64,
}

/// One YAML value with its position.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub pos: Pos,
    pub value: Value,
    /// The text as written before `${...}` substitution, when substitution changed it. Error
    /// messages show this instead of the value, so a secret from the environment never leaks.
    pub written: Option<String>,
    /// Some part of the value came from outside the config file (an environment variable or a
    /// `${file:PATH}`), not from its text: a literal, or the default of `${VAR:-default}` when
    /// that default was used, is public, since config files are shared and published.
    pub from_outside: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Value {
    /// What kind of value this is, for messages such as "expected a list, found a string".
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) | Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

impl Node {
    pub fn new(pos: Pos, value: Value) -> Self {
        Node {
            pos,
            value,
            written: None,
            from_outside: false,
        }
    }

    /// The value is text written in the config file itself (a literal, or the default of
    /// `${VAR:-default}` that was used), so anyone who reads the file knows it.
    pub fn is_public(&self) -> bool {
        !self.from_outside
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq(s) => Some(s),
            _ => None,
        }
    }

    /// A scalar as text (a key, a tag value): strings, numbers and booleans.
    pub fn scalar_text(&self) -> Option<String> {
        match &self.value {
            Value::Str(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    /// The entry of a mapping by key.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    /// The value for messages: as written in the file, never a substituted secret.
    pub fn shown(&self) -> String {
        if let Some(w) = &self.written {
            return w.clone();
        }
        match &self.value {
            Value::Str(s) => s.clone(),
            Value::Seq(_) => "[...]".into(),
            Value::Map(_) => "{...}".into(),
            Value::Null => "null".into(),
            _ => self.scalar_text().unwrap_or_default(),
        }
    }

    /// The value as JSON, for typed deserialization of a section.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::Str(s) => J::String(s.clone()),
            Value::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => J::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.scalar_text().unwrap_or_default(), v.to_json()))
                    .collect(),
            ),
        }
    }

    /// The node at a serde path (`sinks.0.url`), for pointing at the value a typed
    /// deserializer refused; falls back to the deepest node found.
    pub fn find_path<'a>(&'a self, segments: &[String]) -> &'a Node {
        let mut node = self;
        for seg in segments {
            let next = match &node.value {
                Value::Map(entries) => entries
                    .iter()
                    .find(|(k, _)| k.scalar_text().as_deref() == Some(seg.as_str()))
                    .map(|(_, v)| v),
                Value::Seq(items) => seg.parse::<usize>().ok().and_then(|i| items.get(i)),
                _ => None,
            };
            match next {
                Some(n) => node = n,
                None => break,
            }
        }
        node
    }

    /// The key node of a mapping entry, for pointing at an unknown key itself.
    pub fn key_node(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.scalar_text().as_deref() == Some(key))
            .map(|(k, _)| k)
    }
}

/// Parses a YAML document into nodes. The error is serde-saphyr's, which carries its own
/// location and snippet.
pub fn parse(text: &str) -> Result<Node, serde_saphyr::Error> {
    if text.trim().is_empty() {
        return Ok(Node::new(Pos { line: 1, column: 1 }, Value::Map(vec![])));
    }
    let spanned: Spanned<Node> = serde_saphyr::from_str(text)?;
    Ok(from_spanned(spanned))
}

/// Finds unquoted values that YAML read as a tag (`environment: !staging` is the tag
/// `!staging` on an empty value, so it arrives as null), turns each back into the text that
/// was meant, and returns where each tag stands and its text, for an error that says to quote
/// it. herald's config uses no tags; YAML's own `!!` tags are left alone.
pub fn untag(root: &mut Node, text: &str) -> Vec<(Pos, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    untag_in(root, &lines, &mut found);
    found
}

fn untag_in(node: &mut Node, lines: &[&str], found: &mut Vec<(Pos, String)>) {
    match &mut node.value {
        Value::Null => {
            if let Some((column, tag)) = tag_before(lines, node.pos) {
                node.pos.column = column;
                node.value = Value::Str(tag.clone());
                found.push((node.pos, tag));
            }
        }
        Value::Seq(items) => items.iter_mut().for_each(|n| untag_in(n, lines, found)),
        Value::Map(entries) => entries
            .iter_mut()
            .for_each(|(_, v)| untag_in(v, lines, found)),
        _ => {}
    }
}

/// The tag written just before `pos` on its line (the parser places a tagged empty value
/// after its tag), with the tag's column.
fn tag_before(lines: &[&str], pos: Pos) -> Option<(u64, String)> {
    let line = lines.get(usize::try_from(pos.line).ok()?.checked_sub(1)?)?;
    let before: Vec<char> = line
        .chars()
        .take(usize::try_from(pos.column).ok()?.saturating_sub(1))
        .collect();
    // A `#` after a space (or first on the line) starts a comment, and `!` in a comment is no
    // tag; a `#` inside quotes is taken for one too, which only misses a hint.
    let comment = before
        .iter()
        .enumerate()
        .any(|(i, c)| *c == '#' && (i == 0 || before[i - 1].is_whitespace()));
    if comment {
        return None;
    }
    let end = before.iter().rposition(|c| !c.is_whitespace())? + 1;
    let start = before[..end]
        .iter()
        .rposition(|c| c.is_whitespace() || matches!(c, '{' | '[' | ','))
        .map_or(0, |i| i + 1);
    let token: String = before[start..end].iter().collect();
    if !token.starts_with('!') || token.starts_with("!!") {
        return None;
    }
    Some((u64::try_from(start).ok()? + 1, token))
}

fn from_spanned(s: Spanned<Node>) -> Node {
    let mut node = s.value;
    node.pos = Pos {
        line: s.referenced.line(),
        column: s.referenced.column(),
    };
    node
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
        Ok(Node::new(Pos::default(), Value::Bool(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
        Ok(Node::new(Pos::default(), Value::Int(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
        Ok(Node::new(
            Pos::default(),
            i64::try_from(v).map_or(Value::Float(v as f64), Value::Int),
        ))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
        Ok(Node::new(Pos::default(), Value::Float(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
        Ok(Node::new(Pos::default(), Value::Str(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Node, E> {
        Ok(Node::new(Pos::default(), Value::Str(v)))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::new(Pos::default(), Value::Null))
    }
    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::new(Pos::default(), Value::Null))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Node>>()? {
            items.push(from_spanned(item));
        }
        Ok(Node::new(Pos::default(), Value::Seq(items)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<Node>>()? {
            let value = map.next_value::<Spanned<Node>>()?;
            entries.push((from_spanned(key), from_spanned(value)));
        }
        Ok(Node::new(Pos::default(), Value::Map(entries)))
    }
}

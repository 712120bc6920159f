//! The YAML of a pipeline file as a tree whose every node remembers where it was written.
//!
//! Components are deserialized from their node one at a time (so one bad component does not
//! hide the others' problems): the node becomes a JSON value and a table from key path to place,
//! `serde_path_to_error` names the key a typed config rejects, and the table turns that key into
//! a line and column.

use std::collections::HashMap;

use serde::de::{self, Deserialize, DeserializeOwned, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_saphyr::Spanned;

use crate::diagnostic::{Loc, did_you_mean};

/// A YAML value and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The value.
    pub value: NodeValue,
    /// Where it starts.
    pub at: Loc,
}

/// The shapes a YAML value takes.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeValue {
    /// `null` or nothing.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A number with a fraction.
    Float(f64),
    /// Text.
    Str(String),
    /// A list.
    Seq(Vec<Node>),
    /// A mapping, in file order.
    Map(Vec<(Key, Node)>),
}

/// A mapping key and where it is written.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    /// The key.
    pub name: String,
    /// Where.
    pub at: Loc,
}

impl Node {
    /// Parses YAML text; a syntax error comes back with its place.
    pub fn parse(text: &str) -> Result<Node, (Loc, String)> {
        if text.trim().is_empty() {
            return Ok(Node {
                value: NodeValue::Map(Vec::new()),
                at: Loc { line: 1, column: 1 },
            });
        }
        match serde_saphyr::from_str::<Spanned<Raw>>(text) {
            Ok(spanned) => {
                let lines: Vec<&str> = text.lines().collect();
                Ok(Node::from_spanned(spanned, &lines))
            }
            Err(err) => {
                let at = err.location().map_or(Loc { line: 1, column: 1 }, |l| Loc {
                    line: l.line() as u32,
                    column: l.column() as u32,
                });
                let message = err.to_string();
                // The error's first line is the message; the rest is a drawing of the place.
                let first = message.lines().next().unwrap_or("invalid YAML");
                let first = first.strip_prefix("error: ").unwrap_or(first);
                let first = match first.split_once(": ") {
                    Some((place, rest)) if place.starts_with("line ") => rest,
                    _ => first,
                };
                Err((at, format!("invalid YAML: {first}")))
            }
        }
    }

    fn from_spanned(spanned: Spanned<Raw>, lines: &[&str]) -> Node {
        let at = loc(&spanned.referenced);
        let value = match spanned.value {
            Raw::Null => NodeValue::Null,
            Raw::Bool(b) => NodeValue::Bool(b),
            Raw::Int(i) => NodeValue::Int(i),
            Raw::Float(f) => NodeValue::Float(f),
            Raw::Str(s) => NodeValue::Str(s),
            Raw::Seq(items) => NodeValue::Seq(
                items
                    .into_iter()
                    .map(|i| Node::from_spanned(i, lines))
                    .collect(),
            ),
            Raw::Map(entries) => NodeValue::Map(
                entries
                    .into_iter()
                    .map(|(k, v)| {
                        let key = Key {
                            at: key_place(lines, &k.value, loc(&k.referenced)),
                            name: k.value,
                        };
                        (key, Node::from_spanned(v, lines))
                    })
                    .collect(),
            ),
        };
        Node { value, at }
    }

    /// The entries of a mapping (none for anything else).
    pub fn entries(&self) -> &[(Key, Node)] {
        match &self.value {
            NodeValue::Map(entries) => entries,
            _ => &[],
        }
    }

    /// The value at `key` of a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entries()
            .iter()
            .find(|(k, _)| k.name == key)
            .map(|(_, v)| v)
    }

    /// The text of a string node.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            NodeValue::Str(s) => Some(s),
            _ => None,
        }
    }

    /// What kind of value this is, for messages.
    pub fn kind(&self) -> &'static str {
        match self.value {
            NodeValue::Null => "nothing",
            NodeValue::Bool(_) => "a boolean",
            NodeValue::Int(_) | NodeValue::Float(_) => "a number",
            NodeValue::Str(_) => "a string",
            NodeValue::Seq(_) => "a list",
            NodeValue::Map(_) => "a mapping",
        }
    }

    /// The same mapping without the keys in `skip`.
    pub fn without(&self, skip: &[&str]) -> Node {
        let entries = self
            .entries()
            .iter()
            .filter(|(k, _)| !skip.contains(&k.name.as_str()))
            .cloned()
            .collect();
        Node {
            value: NodeValue::Map(entries),
            at: self.at,
        }
    }

    /// Sets the node at `path` (creating mappings on the way), for `--set` overrides.
    pub fn set(&mut self, path: &[&str], value: Node) {
        let Some((first, rest)) = path.split_first() else {
            *self = value;
            return;
        };
        if !matches!(self.value, NodeValue::Map(_)) {
            self.value = NodeValue::Map(Vec::new());
        }
        let NodeValue::Map(entries) = &mut self.value else {
            return;
        };
        let position = entries.iter().position(|(k, _)| k.name == *first);
        let index = match position {
            Some(i) => i,
            None => {
                let at = value.at;
                entries.push((
                    Key {
                        name: (*first).to_owned(),
                        at,
                    },
                    Node {
                        value: NodeValue::Map(Vec::new()),
                        at,
                    },
                ));
                entries.len() - 1
            }
        };
        entries[index].1.set(rest, value);
    }

    /// This node as a JSON value, recording where each key path (`a.b[0].c`) starts.
    pub fn to_json(&self, path: &str, places: &mut HashMap<String, Loc>) -> Value {
        places.insert(path.to_owned(), self.at);
        match &self.value {
            NodeValue::Null => Value::Null,
            NodeValue::Bool(b) => Value::Bool(*b),
            NodeValue::Int(i) => Value::from(*i),
            NodeValue::Float(f) => {
                serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number)
            }
            NodeValue::Str(s) => Value::String(s.clone()),
            NodeValue::Seq(items) => Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, n)| n.to_json(&format!("{path}[{i}]"), places))
                    .collect(),
            ),
            NodeValue::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, n)| {
                        let child = if path.is_empty() {
                            k.name.clone()
                        } else {
                            format!("{path}.{}", k.name)
                        };
                        places.insert(format!("{child}#key"), k.at);
                        (k.name.clone(), n.to_json(&child, places))
                    })
                    .collect(),
            ),
        }
    }

    /// Deserializes this node (at key path `path`) into `T`; on failure, the place and key of
    /// the offending value and a message that says what is expected.
    pub fn deserialize<T: DeserializeOwned>(&self, path: &str) -> Result<T, (Loc, String, String)> {
        let mut places = HashMap::new();
        let json = self.to_json(path, &mut places);
        serde_path_to_error::deserialize::<_, T>(json)
            .map_err(|err| self.locate(path, &places, err))
    }

    /// Where in this node (at key path `path`, with the `places` of its JSON form) a serde
    /// error is: the place and key of the offending value, and a message that says what is
    /// expected.
    pub fn locate(
        &self,
        path: &str,
        places: &HashMap<String, Loc>,
        err: serde_path_to_error::Error<serde_json::Error>,
    ) -> (Loc, String, String) {
        let inner = err.path().to_string();
        let full = match (path.is_empty(), inner.as_str()) {
            (_, ".") => path.to_owned(),
            (true, _) => inner.clone(),
            (false, _) if inner.starts_with('[') => format!("{path}{inner}"),
            (false, _) => format!("{path}.{inner}"),
        };
        let raw = err.into_inner().to_string();
        let message = explain(&raw);
        // An unknown key is reported at the parent's path by serde: point at the key.
        let at = unknown_field(&raw)
            .and_then(|field| {
                places
                    .get(&format!("{full}#key"))
                    .or_else(|| places.get(&format!("{full}.{field}#key")))
            })
            .or_else(|| nearest(places, &full))
            .copied()
            .unwrap_or(self.at);
        (at, full, message)
    }
}

/// The place of a mapping key. The parser reports keys where their value starts; the key is
/// the nearest occurrence of its text before that on the same line.
fn key_place(lines: &[&str], key: &str, reported: Loc) -> Loc {
    let Some(line) = (reported.line as usize)
        .checked_sub(1)
        .and_then(|i| lines.get(i))
    else {
        return reported;
    };
    let before: String = line
        .chars()
        .take(reported.column.saturating_sub(1) as usize)
        .collect();
    match before.rfind(key) {
        Some(byte) => {
            let mut column = before[..byte].chars().count() as u32 + 1;
            // A quoted key starts at its quote.
            if matches!(before[..byte].chars().last(), Some('"' | '\'')) {
                column -= 1;
            }
            Loc {
                line: reported.line,
                column,
            }
        }
        None => reported,
    }
}

fn nearest<'a>(places: &'a HashMap<String, Loc>, path: &str) -> Option<&'a Loc> {
    let mut p = path;
    loop {
        if let Some(at) = places.get(p) {
            return Some(at);
        }
        let cut = p.rfind(['.', '['])?;
        p = &p[..cut];
    }
}

fn unknown_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split('`').next()
}

/// Rewrites serde's messages in the words of a pipeline file, with a suggestion for a
/// misspelt key.
fn explain(message: &str) -> String {
    if let Some(field) = unknown_field(message) {
        let expected: Vec<&str> = message
            .split_once("expected")
            .map(|(_, rest)| rest.split('`').skip(1).step_by(2).collect())
            .unwrap_or_default();
        let mut out = format!("unknown key `{field}`");
        if let Some(close) = did_you_mean(field, expected.iter().copied()) {
            out.push_str(&format!("; did you mean `{close}`?"));
        } else if !expected.is_empty() {
            out.push_str(&format!(
                "; expected one of {}",
                expected
                    .iter()
                    .map(|e| format!("`{e}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        } else {
            out.push_str("; this component takes no options here");
        }
        return out;
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        let field = rest.split('`').next().unwrap_or(rest);
        return format!("missing key `{field}`");
    }
    if let Some(rest) = message
        .strip_prefix("invalid type: ")
        .or_else(|| message.strip_prefix("invalid value: "))
    {
        let (found, expected) = rest
            .split_once(", expected ")
            .unwrap_or((rest, "something else"));
        return format!("found {found}; expected {}", plain_type(expected));
    }
    if let Some(rest) = message.strip_prefix("unknown variant `") {
        let (found, expected) = rest.split_once("`, expected").unwrap_or((rest, ""));
        let options: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        let mut out = format!(
            "`{found}` is not one of {}",
            options
                .iter()
                .map(|o| format!("`{o}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        if let Some(close) = did_you_mean(found, options.iter().copied()) {
            out.push_str(&format!("; did you mean `{close}`?"));
        }
        return out;
    }
    message.to_owned()
}

/// Serde's type names in the words of a configuration file.
fn plain_type(expected: &str) -> &str {
    match expected {
        "usize" | "u8" | "u16" | "u32" | "u64" | "i32" | "i64" => "a whole number",
        "f32" | "f64" => "a number",
        "a boolean" | "bool" => "`true` or `false`",
        "a sequence" => "a list",
        "a map" => "a mapping",
        other => other,
    }
}

fn loc(l: &serde_saphyr::Location) -> Loc {
    Loc {
        line: l.line() as u32,
        column: l.column() as u32,
    }
}

/// What serde-saphyr builds before locations are copied into [`Node`]s.
enum Raw {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<Raw>>),
    Map(Vec<(Spanned<String>, Spanned<Raw>)>),
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Raw, D::Error> {
        struct RawVisitor;
        impl<'de> Visitor<'de> for RawVisitor {
            type Value = Raw;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any YAML value")
            }
            fn visit_unit<E>(self) -> Result<Raw, E> {
                Ok(Raw::Null)
            }
            fn visit_none<E>(self) -> Result<Raw, E> {
                Ok(Raw::Null)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Raw, E> {
                Ok(Raw::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Raw, E> {
                Ok(Raw::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Raw, E> {
                i64::try_from(v).map(Raw::Int).or(Ok(Raw::Float(v as f64)))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Raw, E> {
                Ok(Raw::Float(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Raw, E> {
                Ok(Raw::Str(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<Raw, E> {
                Ok(Raw::Str(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Raw::Seq(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(Raw::Map(entries))
            }
        }
        deserializer.deserialize_any(RawVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Retry {
        max_attempts: u32,
        #[serde(default)]
        initial: Option<String>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Component {
        condition: String,
        retry: Option<Retry>,
    }

    #[test]
    fn remembers_where_every_node_is() {
        let node = Node::parse("a:\n  b: [1, two]\n").expect("yaml");
        let b = node.get("a").and_then(|a| a.get("b")).expect("b");
        assert_eq!(b.at, Loc { line: 2, column: 6 });
        let NodeValue::Seq(items) = &b.value else {
            panic!("a list")
        };
        assert_eq!(items[1].value, NodeValue::Str("two".into()));
        assert_eq!(items[1].at.column, 10);
    }

    #[test]
    fn syntax_errors_have_places() {
        let (at, message) = Node::parse("a: [1, 2\nb: 3").expect_err("broken");
        assert_eq!(at.line, 2);
        assert!(message.starts_with("invalid YAML: "), "{message}");
    }

    #[test]
    fn typed_errors_point_at_the_key() {
        let node = Node::parse("condition: x\nretry:\n  max_atempts: 3\n").expect("yaml");
        let (at, path, message) = node
            .deserialize::<Component>("transforms.t")
            .expect_err("typo");
        assert_eq!(at, Loc { line: 3, column: 3 });
        assert_eq!(path, "transforms.t.retry.max_atempts");
        assert_eq!(
            message,
            "unknown key `max_atempts`; did you mean `max_attempts`?"
        );

        let node = Node::parse("condition: x\nretry: {max_attempts: lots}\n").expect("yaml");
        let (at, path, message) = node.deserialize::<Component>("t").expect_err("type");
        assert_eq!((at.line, path.as_str()), (2, "t.retry.max_attempts"));
        assert_eq!(message, "found string \"lots\"; expected a whole number");
    }

    #[test]
    fn set_creates_and_replaces_paths() {
        let mut node = Node::parse("a: {b: 1}").expect("yaml");
        node.set(
            &["a", "b"],
            Node {
                value: NodeValue::Int(2),
                at: Loc::default(),
            },
        );
        node.set(
            &["a", "c", "d"],
            Node {
                value: NodeValue::Bool(true),
                at: Loc::default(),
            },
        );
        let json = node.to_json("", &mut HashMap::new());
        assert_eq!(json, serde_json::json!({"a": {"b": 2, "c": {"d": true}}}));
    }
}

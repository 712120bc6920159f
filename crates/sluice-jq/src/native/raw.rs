//! Reading less: which top-level keys a program needs, and picking just those out of an
//! event's original text.

use std::borrow::Cow;
use std::collections::BTreeSet;

use jaq_core::ops::Math;
use serde_json::{Map, Value};

use super::eval::eval;
use super::expr::{Builtin, Env, Expr, Failure, Key, ObjKey, Piece, Step};
use super::outputs::{collect, first};
use super::value::math;

/// The top-level keys a program reads, if it reads the input only through them.
pub(super) fn top_level_keys(expr: &Expr) -> Option<BTreeSet<String>> {
    let mut keys = BTreeSet::new();
    reads_only_keys(expr, &mut keys).then_some(keys)
}

/// Whether `e`, evaluated on the root input, uses it only through `.key…` paths (collected).
pub(super) fn reads_only_keys(e: &Expr, keys: &mut BTreeSet<String>) -> bool {
    match e {
        Expr::Literal(_) | Expr::Pattern(..) | Expr::Var(_) => true,
        Expr::Identity | Expr::Assign(..) | Expr::Update(..) | Expr::UpdateMath(..) => false,
        Expr::Path(base, steps) => match (&**base, steps.first()) {
            (Expr::Identity, Some((Step::Key(k), _))) => {
                keys.insert(k.clone());
                steps[1..].iter().all(|(s, _)| match s {
                    Step::Dynamic(d) => reads_only_keys(d, keys),
                    _ => true,
                })
            }
            (Expr::Identity, _) => false,
            _ => {
                reads_only_keys(base, keys)
                    && steps.iter().all(|(s, _)| match s {
                        Step::Dynamic(d) => reads_only_keys(d, keys),
                        _ => true,
                    })
            }
        },
        Expr::Str(pieces) => pieces.iter().all(|p| match p {
            Piece::Text(_) => true,
            Piece::Interp(e) => reads_only_keys(e, keys),
        }),
        Expr::Array(inner) => inner.as_ref().is_none_or(|e| reads_only_keys(e, keys)),
        Expr::Object(entries) => entries.iter().all(|(k, v)| {
            let key_ok = match k {
                ObjKey::Static(name) => {
                    if v.is_none() {
                        keys.insert(name.clone());
                    }
                    true
                }
                ObjKey::Dynamic(e) => reads_only_keys(e, keys),
                ObjKey::Var(_) => true,
            };
            key_ok && v.as_ref().is_none_or(|e| reads_only_keys(e, keys))
        }),
        Expr::Neg(e) => reads_only_keys(e, keys),
        // The right side of a pipe reads the left side's output, not the root; with a binding
        // (`l as $v | r`) it reads the root.
        Expr::Pipe(l, None, _) => reads_only_keys(l, keys),
        Expr::Pipe(l, Some(_), r)
        | Expr::Comma(l, r)
        | Expr::Alt(l, r)
        | Expr::Or(l, r)
        | Expr::And(l, r)
        | Expr::Math(_, l, r)
        | Expr::Cmp(_, l, r) => reads_only_keys(l, keys) && reads_only_keys(r, keys),
        Expr::If(branches, otherwise) => {
            branches
                .iter()
                .all(|(c, t)| reads_only_keys(c, keys) && reads_only_keys(t, keys))
                && otherwise.as_ref().is_none_or(|e| reads_only_keys(e, keys))
        }
        Expr::Try(body, catch) => {
            reads_only_keys(body, keys) && catch.as_ref().is_none_or(|e| reads_only_keys(e, keys))
        }
        // Builtins act on the root itself; only `now`, `empty` and errors ignore it.
        Expr::Call(b, args) => {
            matches!(
                b,
                Builtin::Now | Builtin::Empty | Builtin::Error1 | Builtin::Error0
            ) && args.iter().all(|a| reads_only_keys(a, keys))
        }
    }
}

/// One top-level entry of a JSON object's text: its key, and where the key (with its quotes)
/// and the value are.
pub(super) struct Entry<'a> {
    /// The key's text between its quotes, escapes and all.
    pub(super) plain: &'a [u8],
    pub(super) key: std::ops::Range<usize>,
    pub(super) value: std::ops::Range<usize>,
}

impl Entry<'_> {
    /// The key as a string (unescaped when it has escapes).
    pub(super) fn name(&self) -> Option<Cow<'_, str>> {
        if self.plain.contains(&b'\\') {
            let mut quoted = Vec::with_capacity(self.plain.len() + 2);
            quoted.push(b'"');
            quoted.extend_from_slice(self.plain);
            quoted.push(b'"');
            serde_json::from_slice::<String>(&quoted)
                .ok()
                .map(Cow::Owned)
        } else {
            std::str::from_utf8(self.plain).ok().map(Cow::Borrowed)
        }
    }

    /// Whether the key is `name`: compared as bytes, unless the key has escapes.
    fn is(&self, name: &str) -> bool {
        if self.plain.contains(&b'\\') {
            self.name().is_some_and(|n| n == name)
        } else {
            self.plain == name.as_bytes()
        }
    }
}

/// The one of `keys` that `entry` names.
fn find<'k>(keys: &'k BTreeSet<String>, entry: &Entry<'_>) -> Option<&'k String> {
    keys.iter()
        .find(|k| k.len() <= entry.plain.len() && entry.is(k))
}

/// Calls `f` with each top-level entry of the JSON object in `raw`, until it returns false;
/// `None` if `raw` is not an object.
///
/// The text was checked to be JSON when the event was made, so this only has to find where
/// keys and values start and end: strings are skipped with `memchr`, containers by counting
/// brackets outside strings.
pub(super) fn scan<'a>(raw: &'a [u8], mut f: impl FnMut(Entry<'a>) -> bool) -> Option<()> {
    let mut i = skip_ws(raw, 0);
    if raw.get(i) != Some(&b'{') {
        return None;
    }
    i = skip_ws(raw, i + 1);
    if raw.get(i) == Some(&b'}') {
        return Some(());
    }
    loop {
        if raw.get(i) != Some(&b'"') {
            return None;
        }
        let key_end = skip_string(raw, i)?;
        let key = i..key_end;
        i = skip_ws(raw, key_end);
        if raw.get(i) != Some(&b':') {
            return None;
        }
        let start = skip_ws(raw, i + 1);
        let end = skip_value(raw, start)?;
        let plain = &raw[key.start + 1..key.end - 1];
        if !f(Entry {
            plain,
            key,
            value: start..end,
        }) {
            return Some(());
        }
        i = skip_ws(raw, end);
        match raw.get(i) {
            Some(b',') => i = skip_ws(raw, i + 1),
            Some(b'}') => return Some(()),
            _ => return None,
        }
    }
}

/// An object with the `keys` of the JSON object in `raw` (those present); `None` if `raw` is
/// not an object. Only the wanted values are parsed.
pub(super) fn pick(raw: &[u8], keys: &BTreeSet<String>) -> Option<Value> {
    let mut out = Map::with_capacity(keys.len() + 1);
    let mut ok = true;
    scan(raw, |entry| {
        if let Some(name) = find(keys, &entry) {
            match serde_json::from_slice(&raw[entry.value]) {
                Ok(value) => {
                    out.insert(name.clone(), value);
                }
                Err(_) => ok = false,
            }
        }
        ok && out.len() < keys.len()
    })?;
    ok.then_some(Value::Object(out))
}

/// A program that only sets, updates and deletes top-level fields, reading only top-level
/// fields: it can be run on an event's text, rewriting just those fields.
pub(super) struct Edit {
    steps: Vec<EditStep>,
    /// Every field the steps read or write.
    keys: BTreeSet<String>,
}

enum EditStep {
    Set(String, Expr),
    Update(String, Expr),
    UpdateMath(Math, String, Expr),
    Delete(String),
}

/// The edit plan of `expr`, if it is a pipe of field edits whose right sides read only
/// top-level fields.
pub(super) fn edit_plan(expr: &Expr) -> Option<Edit> {
    fn flatten<'e>(e: &'e Expr, out: &mut Vec<&'e Expr>) {
        match e {
            Expr::Pipe(l, None, r) => {
                flatten(l, out);
                flatten(r, out);
            }
            other => out.push(other),
        }
    }
    let mut parts = Vec::new();
    flatten(expr, &mut parts);
    let mut keys = BTreeSet::new();
    let mut steps = Vec::new();
    for part in parts {
        let step = match part {
            Expr::Assign(path, rhs) => match path.as_slice() {
                [Key::Field(k)] if reads_only_keys(rhs, &mut keys) => {
                    EditStep::Set(k.clone(), (**rhs).clone())
                }
                _ => return None,
            },
            Expr::UpdateMath(op, path, rhs) => match path.as_slice() {
                [Key::Field(k)] if reads_only_keys(rhs, &mut keys) => {
                    EditStep::UpdateMath(*op, k.clone(), (**rhs).clone())
                }
                _ => return None,
            },
            Expr::Update(path, f) => match path.as_slice() {
                [Key::Field(k)] => EditStep::Update(k.clone(), (**f).clone()),
                _ => return None,
            },
            Expr::Call(Builtin::Del, args) => match args.as_slice() {
                [Expr::Path(base, steps)] if matches!(**base, Expr::Identity) => {
                    match steps.as_slice() {
                        [(Step::Key(k), false)] => EditStep::Delete(k.clone()),
                        _ => return None,
                    }
                }
                _ => return None,
            },
            _ => return None,
        };
        match &step {
            EditStep::Set(k, _)
            | EditStep::Update(k, _)
            | EditStep::UpdateMath(_, k, _)
            | EditStep::Delete(k) => {
                keys.insert(k.clone());
            }
        }
        steps.push(step);
    }
    Some(Edit { steps, keys })
}

impl Edit {
    /// Runs the edits on the JSON object in `raw` and writes the result: untouched fields are
    /// copied as they are, changed ones rewritten in place, new ones appended (jq's key order).
    /// `None` when the general evaluator must run instead (not an object, or a step with other
    /// than one result).
    pub(super) fn apply(&self, raw: &[u8]) -> Option<Result<Vec<u8>, Failure>> {
        let mut root = pick(raw, &self.keys)?;
        let mut env = Env { vars: Vec::new() };
        for step in &self.steps {
            let change = match step {
                EditStep::Set(k, rhs) | EditStep::UpdateMath(_, k, rhs) => {
                    let mut values = match collect(eval, rhs, &root, &mut env) {
                        Ok(v) => v,
                        Err(e) => return Some(Err(e)),
                    };
                    if values.len() != 1 {
                        return None;
                    }
                    let value = values.remove(0);
                    match step {
                        EditStep::UpdateMath(op, ..) => {
                            match math(*op, root[k.as_str()].clone(), value) {
                                Ok(v) => (k, Some(v)),
                                Err(e) => return Some(Err(e)),
                            }
                        }
                        _ => (k, Some(value)),
                    }
                }
                EditStep::Update(k, f) => match first(eval, f, &root[k.as_str()], &mut env) {
                    Ok(v) => (k, v),
                    Err(e) => return Some(Err(e)),
                },
                EditStep::Delete(k) => (k, None),
            };
            let Value::Object(map) = &mut root else {
                return None;
            };
            match change {
                (k, Some(v)) => {
                    map.insert(k.clone(), v);
                }
                (k, None) => {
                    map.shift_remove(k);
                }
            }
        }
        let Value::Object(map) = root else {
            return None;
        };
        let mut out = Vec::with_capacity(raw.len() + 32);
        out.push(b'{');
        let mut written: BTreeSet<&str> = BTreeSet::new();
        let mut separator = false;
        scan(raw, |entry| {
            if let Some(name) = find(&self.keys, &entry) {
                if let Some((key, value)) = map.get_key_value(name) {
                    write_entry(&mut out, &mut separator, &raw[entry.key.clone()], value);
                    written.insert(key.as_str());
                }
            } else {
                if separator {
                    out.push(b',');
                }
                out.extend_from_slice(&raw[entry.key]);
                out.push(b':');
                out.extend_from_slice(&raw[entry.value]);
                separator = true;
            }
            true
        })?;
        for (key, value) in &map {
            if !written.contains(key.as_str()) {
                let quoted = serde_json::to_vec(key).ok()?;
                write_entry(&mut out, &mut separator, &quoted, value);
            }
        }
        out.push(b'}');
        Some(Ok(out))
    }
}

fn write_entry(out: &mut Vec<u8>, separator: &mut bool, key: &[u8], value: &Value) {
    if *separator {
        out.push(b',');
    }
    out.extend_from_slice(key);
    out.push(b':');
    // Writing a `Value` into a `Vec` cannot fail: every map key is a string.
    let _ = serde_json::to_writer(&mut *out, value);
    *separator = true;
}

pub(super) fn skip_ws(raw: &[u8], mut i: usize) -> usize {
    while raw.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    i
}

/// The index just past the string starting (at its quote) at `i`.
pub(super) fn skip_string(raw: &[u8], i: usize) -> Option<usize> {
    let mut at = i + 1;
    loop {
        let found = at + memchr::memchr2(b'"', b'\\', raw.get(at..)?)?;
        if raw[found] == b'"' {
            return Some(found + 1);
        }
        at = found + 2;
    }
}

/// The index just past the value starting at `i`.
pub(super) fn skip_value(raw: &[u8], i: usize) -> Option<usize> {
    match raw.get(i)? {
        b'"' => skip_string(raw, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut at = i;
            loop {
                match raw.get(at)? {
                    b'"' => {
                        at = skip_string(raw, at)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(at + 1);
                        }
                    }
                    _ => {}
                }
                at += 1;
            }
        }
        _ => {
            let rest = raw.get(i..)?;
            Some(
                i + rest
                    .iter()
                    .position(|b| matches!(b, b',' | b'}' | b']') || b.is_ascii_whitespace())
                    .unwrap_or(rest.len()),
            )
        }
    }
}

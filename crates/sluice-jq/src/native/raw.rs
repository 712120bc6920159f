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

/// A program that reads its input only through top-level keys (`.level`, `.http.status`),
/// rewritten to read them from an array of their values (`.[0]`, `.[1].status`): its input is
/// then made from an event's text by [`Slots::pick`], with no map to build or hash.
pub(super) struct Slots {
    /// The keys, in the order of their places in the array.
    pub(super) keys: Vec<String>,
    /// The program reading the array.
    pub(super) expr: Expr,
}

impl Slots {
    /// The program `expr` reading slots, if it reads the input only through top-level keys.
    pub(super) fn of(expr: &Expr) -> Option<Slots> {
        let mut keys = Vec::new();
        let expr = slotted(expr, &mut keys)?;
        Some(Slots { keys, expr })
    }

    /// The values of the keys in the JSON object in `raw`, `null` for those it lacks, as the
    /// array the program reads; `None` if `raw` is not an object. Only the wanted values are
    /// parsed.
    pub(super) fn pick(&self, raw: &[u8]) -> Option<Value> {
        let values = values_of(raw, &self.keys)?;
        Some(Value::Array(
            values.into_iter().map(Option::unwrap_or_default).collect(),
        ))
    }
}

/// Whether `e`, evaluated on the root input, uses it only through `.key…` paths (collected).
pub(super) fn reads_only_keys(e: &Expr, keys: &mut BTreeSet<String>) -> bool {
    let mut found = Vec::new();
    let ok = slotted(e, &mut found).is_some();
    keys.extend(found);
    ok
}

/// `e` reading each top-level key of the root input from its place in an array (the place of
/// the key in `keys`, added when new), if `e` uses the root only through `.key…` paths.
fn slotted(e: &Expr, keys: &mut Vec<String>) -> Option<Expr> {
    fn slot(key: &str, keys: &mut Vec<String>) -> i64 {
        let at = keys.iter().position(|k| k == key).unwrap_or_else(|| {
            keys.push(key.to_owned());
            keys.len() - 1
        });
        at as i64
    }
    fn steps(steps: &[(Step, bool)], keys: &mut Vec<String>) -> Option<Vec<(Step, bool)>> {
        steps
            .iter()
            .map(|(s, optional)| {
                let step = match s {
                    Step::Dynamic(d) => Step::Dynamic(slotted(d, keys)?),
                    other => other.clone(),
                };
                Some((step, *optional))
            })
            .collect()
    }
    fn boxed(e: &Expr, keys: &mut Vec<String>) -> Option<Box<Expr>> {
        slotted(e, keys).map(Box::new)
    }
    Some(match e {
        Expr::Literal(_) | Expr::Pattern(..) | Expr::Var(_) => e.clone(),
        Expr::Identity | Expr::Assign(..) | Expr::Update(..) | Expr::UpdateMath(..) => {
            return None;
        }
        Expr::Path(base, path) => match (&**base, path.split_first()) {
            (Expr::Identity, Some(((Step::Key(k), optional), rest))) => {
                let mut all = vec![(Step::Index(slot(k, keys)), *optional)];
                all.extend(steps(rest, keys)?);
                Expr::Path(Box::new(Expr::Identity), all)
            }
            (Expr::Identity, _) => return None,
            _ => Expr::Path(boxed(base, keys)?, steps(path, keys)?),
        },
        Expr::Str(pieces) => Expr::Str(
            pieces
                .iter()
                .map(|p| match p {
                    Piece::Text(_) => Some(p.clone()),
                    Piece::Interp(e) => slotted(e, keys).map(Piece::Interp),
                })
                .collect::<Option<_>>()?,
        ),
        Expr::Array(inner) => Expr::Array(match inner {
            Some(e) => Some(boxed(e, keys)?),
            None => None,
        }),
        Expr::Object(entries) => Expr::Object(
            entries
                .iter()
                .map(|(k, v)| {
                    let value = match v {
                        Some(v) => Some(slotted(v, keys)?),
                        // `{level}` reads `.level`.
                        None => match k {
                            ObjKey::Static(name) => Some(Expr::Path(
                                Box::new(Expr::Identity),
                                vec![(Step::Index(slot(name, keys)), false)],
                            )),
                            _ => None,
                        },
                    };
                    let key = match k {
                        ObjKey::Dynamic(e) => ObjKey::Dynamic(slotted(e, keys)?),
                        other => other.clone(),
                    };
                    Some((key, value))
                })
                .collect::<Option<_>>()?,
        ),
        Expr::Neg(e) => Expr::Neg(boxed(e, keys)?),
        // The right side of a pipe reads the left side's output, not the root; with a binding
        // (`l as $v | r`) it reads the root.
        Expr::Pipe(l, None, r) => Expr::Pipe(boxed(l, keys)?, None, r.clone()),
        Expr::Pipe(l, Some(v), r) => Expr::Pipe(boxed(l, keys)?, Some(v.clone()), boxed(r, keys)?),
        Expr::Comma(l, r) => Expr::Comma(boxed(l, keys)?, boxed(r, keys)?),
        Expr::Alt(l, r) => Expr::Alt(boxed(l, keys)?, boxed(r, keys)?),
        Expr::Or(l, r) => Expr::Or(boxed(l, keys)?, boxed(r, keys)?),
        Expr::And(l, r) => Expr::And(boxed(l, keys)?, boxed(r, keys)?),
        Expr::Math(op, l, r) => Expr::Math(*op, boxed(l, keys)?, boxed(r, keys)?),
        Expr::Cmp(op, l, r) => Expr::Cmp(*op, boxed(l, keys)?, boxed(r, keys)?),
        Expr::If(branches, otherwise) => Expr::If(
            branches
                .iter()
                .map(|(c, t)| Some((slotted(c, keys)?, slotted(t, keys)?)))
                .collect::<Option<_>>()?,
            match otherwise {
                Some(e) => Some(boxed(e, keys)?),
                None => None,
            },
        ),
        Expr::Try(body, catch) => Expr::Try(
            boxed(body, keys)?,
            match catch {
                Some(e) => Some(boxed(e, keys)?),
                None => None,
            },
        ),
        // Builtins act on the root itself; only `now`, `empty` and errors ignore it.
        Expr::Call(b, args) => {
            if !matches!(
                b,
                Builtin::Now | Builtin::Empty | Builtin::Error1 | Builtin::Error0
            ) {
                return None;
            }
            Expr::Call(
                *b,
                args.iter()
                    .map(|a| slotted(a, keys))
                    .collect::<Option<_>>()?,
            )
        }
    })
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

/// The place in `keys` of the one `entry` names.
fn find(keys: &[String], entry: &Entry<'_>) -> Option<usize> {
    keys.iter()
        .position(|k| k.len() <= entry.plain.len() && entry.is(k))
}

/// The values of `keys` in the JSON object in `raw`, in their order (none for a key it lacks);
/// `None` if `raw` is not an object. Only the wanted values are parsed.
fn values_of(raw: &[u8], keys: &[String]) -> Option<Vec<Option<Value>>> {
    let mut values: Vec<Option<Value>> = vec![None; keys.len()];
    let (mut found, mut ok) = (0, true);
    scan(raw, |entry| {
        if let Some(at) = find(keys, &entry) {
            match serde_json::from_slice(&raw[entry.value]) {
                Ok(value) => {
                    if values[at].replace(value).is_none() {
                        found += 1;
                    }
                }
                Err(_) => ok = false,
            }
        }
        ok && found < keys.len()
    })?;
    ok.then_some(values)
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
pub(super) fn pick(raw: &[u8], keys: &[String]) -> Option<Value> {
    let values = values_of(raw, keys)?;
    let mut out = Map::with_capacity(keys.len() + 1);
    for (key, value) in keys.iter().zip(values) {
        if let Some(value) = value {
            out.insert(key.clone(), value);
        }
    }
    Some(Value::Object(out))
}

/// A program that only sets, updates and deletes top-level fields, reading only top-level
/// fields: it can be run on an event's text, rewriting just those fields.
pub(super) struct Edit {
    steps: Vec<EditStep>,
    /// Every field the steps read or write, once each.
    keys: Vec<String>,
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
    Some(Edit {
        steps,
        keys: keys.into_iter().collect(),
    })
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
            if let Some(at) = find(&self.keys, &entry) {
                if let Some((key, value)) = map.get_key_value(&self.keys[at]) {
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

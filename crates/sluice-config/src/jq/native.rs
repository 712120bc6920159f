//! The native jq evaluator: the common subset of jq, run directly on `serde_json` values.
//!
//! A program is parsed by jaq's parser and translated term by term; a term outside the subset
//! makes [`compile`] return `None` and the whole program runs on jaq instead. Evaluation is
//! jq's: every expression yields zero or more values, passed to a callback that may stop the
//! generation early (a condition needs only the first value).
//!
//! # Reading less
//! When a program reads the event only through paths that start with a top-level key (`.level`,
//! `.http.status`) and never uses the event whole, it needs only those keys. For an unchanged
//! event the evaluator then scans the original bytes for just those keys instead of building
//! the whole value: a filter on `.level` costs a scan, not a parse.

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::fmt;

use jaq_core::load::lex::StrPart;
use jaq_core::load::parse::{BinaryOp, Pattern, Term};
use jaq_core::load::{Lexer, Parser};
use jaq_core::ops::{Cmp, Math};
use jaq_core::path::{Opt, Part};
use regex::Regex;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Number, Value};
use sluice_connect::Event;

use super::truthy;

/// A compiled expression.
pub(crate) enum Expr {
    Identity,
    Literal(Value),
    Path(Box<Expr>, Vec<(Step, bool)>),
    Str(Vec<Piece>),
    Array(Option<Box<Expr>>),
    Object(Vec<(ObjKey, Option<Expr>)>),
    Neg(Box<Expr>),
    Pipe(Box<Expr>, Option<String>, Box<Expr>),
    Comma(Box<Expr>, Box<Expr>),
    Alt(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Math(Math, Box<Expr>, Box<Expr>),
    Cmp(Cmp, Box<Expr>, Box<Expr>),
    Assign(Vec<Key>, Box<Expr>),
    Update(Vec<Key>, Box<Expr>),
    UpdateMath(Math, Vec<Key>, Box<Expr>),
    If(Vec<(Expr, Expr)>, Option<Box<Expr>>),
    Try(Box<Expr>, Option<Box<Expr>>),
    Var(String),
    Call(Builtin, Vec<Expr>),
}

/// One step of a path.
pub(crate) enum Step {
    Key(String),
    Index(i64),
    Dynamic(Expr),
    Iterate,
}

/// A static path step (for assignment).
#[derive(Clone)]
pub(crate) enum Key {
    Field(String),
    Index(i64),
}

pub(crate) enum Piece {
    Text(String),
    Interp(Expr),
}

pub(crate) enum ObjKey {
    Static(String),
    Dynamic(Expr),
    Var(String),
}

/// Functions the native evaluator knows, by name and arity.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Builtin {
    Not,
    Length,
    Keys,
    Has,
    Del,
    Select,
    Empty,
    Error0,
    Error1,
    ToString,
    ToNumber,
    ToJson,
    FromJson,
    Downcase,
    Upcase,
    LTrimStr,
    RTrimStr,
    StartsWith,
    EndsWith,
    Contains,
    Split,
    Join,
    Test,
    Sub,
    Gsub,
    Type,
    Floor,
    Ceil,
    Round,
    Sqrt,
    Fabs,
    Add,
    Min,
    Max,
    Map,
    MapValues,
    ToEntries,
    FromEntries,
    Any,
    All,
    Sort,
    Unique,
    Reverse,
    Trim,
    Values,
    Now,
    IsNull,
}

fn builtin(name: &str, arity: usize) -> Option<Builtin> {
    use Builtin as B;
    Some(match (name, arity) {
        ("not", 0) => B::Not,
        ("length", 0) => B::Length,
        ("keys", 0) => B::Keys,
        ("has", 1) => B::Has,
        ("del", 1) => B::Del,
        ("select", 1) => B::Select,
        ("empty", 0) => B::Empty,
        ("error", 0) => B::Error0,
        ("error", 1) => B::Error1,
        ("tostring", 0) => B::ToString,
        ("tonumber", 0) => B::ToNumber,
        ("tojson", 0) => B::ToJson,
        ("fromjson", 0) => B::FromJson,
        ("ascii_downcase", 0) => B::Downcase,
        ("ascii_upcase", 0) => B::Upcase,
        ("ltrimstr", 1) => B::LTrimStr,
        ("rtrimstr", 1) => B::RTrimStr,
        ("startswith", 1) => B::StartsWith,
        ("endswith", 1) => B::EndsWith,
        ("contains", 1) => B::Contains,
        ("split", 1) => B::Split,
        ("join", 1) => B::Join,
        ("test", 1) => B::Test,
        ("sub", 2) => B::Sub,
        ("gsub", 2) => B::Gsub,
        ("type", 0) => B::Type,
        ("floor", 0) => B::Floor,
        ("ceil", 0) => B::Ceil,
        ("round", 0) => B::Round,
        ("sqrt", 0) => B::Sqrt,
        ("fabs" | "abs", 0) => B::Fabs,
        ("add", 0) => B::Add,
        ("min", 0) => B::Min,
        ("max", 0) => B::Max,
        ("map", 1) => B::Map,
        ("map_values", 1) => B::MapValues,
        ("to_entries", 0) => B::ToEntries,
        ("from_entries", 0) => B::FromEntries,
        ("any", 0) => B::Any,
        ("all", 0) => B::All,
        ("sort", 0) => B::Sort,
        ("unique", 0) => B::Unique,
        ("reverse", 0) => B::Reverse,
        ("trim", 0) => B::Trim,
        ("values", 0) => B::Values,
        ("now", 0) => B::Now,
        ("isnull", 0) => B::IsNull,
        _ => return None,
    })
}

/// Translates `code` if it is within the native subset.
pub(crate) fn compile(code: &str) -> Option<Expr> {
    let tokens = Lexer::new(code).lex().ok()?;
    let term = Parser::new(&tokens)
        .parse(jaq_core::load::Parser::term)
        .ok()?;
    translate(&term)
}

fn boxed(t: &Term<&str>) -> Option<Box<Expr>> {
    translate(t).map(Box::new)
}

fn translate(t: &Term<&str>) -> Option<Expr> {
    Some(match t {
        Term::Id => Expr::Identity,
        Term::Num(n) => Expr::Literal(number_literal(n)?),
        Term::Str(None, parts) => string(parts)?,
        Term::Arr(inner) => Expr::Array(match inner {
            Some(t) => Some(boxed(t)?),
            None => None,
        }),
        Term::Obj(entries) => Expr::Object(
            entries
                .iter()
                .map(|(k, v)| {
                    let key = match k {
                        Term::Str(None, parts) => match string(parts)? {
                            Expr::Literal(Value::String(s)) => ObjKey::Static(s),
                            other => ObjKey::Dynamic(other),
                        },
                        Term::Var(name) => ObjKey::Var(name.to_string()),
                        Term::Call(name, args) if args.is_empty() && !name.starts_with('$') => {
                            ObjKey::Static((*name).to_owned())
                        }
                        other => ObjKey::Dynamic(translate(other)?),
                    };
                    let value = match v {
                        Some(v) => Some(translate(v)?),
                        None => None,
                    };
                    Some((key, value))
                })
                .collect::<Option<_>>()?,
        ),
        Term::Neg(t) => Expr::Neg(boxed(t)?),
        Term::BinOp(l, op, r) => binop(l, op, r)?,
        Term::IfThenElse(branches, otherwise) => Expr::If(
            branches
                .iter()
                .map(|(c, t)| Some((translate(c)?, translate(t)?)))
                .collect::<Option<_>>()?,
            match otherwise {
                Some(e) => Some(boxed(e)?),
                None => None,
            },
        ),
        Term::TryCatch(body, catch) => Expr::Try(
            boxed(body)?,
            match catch {
                Some(c) => Some(boxed(c)?),
                None => None,
            },
        ),
        Term::Var(name) => Expr::Var(name.to_string()),
        Term::Call(name, args) => match (*name, args.len()) {
            ("true", 0) => Expr::Literal(Value::Bool(true)),
            ("false", 0) => Expr::Literal(Value::Bool(false)),
            ("null", 0) => Expr::Literal(Value::Null),
            _ => Expr::Call(
                builtin(name, args.len())?,
                args.iter().map(translate).collect::<Option<_>>()?,
            ),
        },
        Term::Path(base, path) => {
            let steps = path
                .0
                .iter()
                .map(|(part, opt)| {
                    let optional = matches!(opt, Opt::Optional);
                    let step = match part {
                        Part::Index(Term::Str(None, parts)) => match string(parts)? {
                            Expr::Literal(Value::String(s)) => Step::Key(s),
                            other => Step::Dynamic(other),
                        },
                        Part::Index(Term::Num(n)) => match number_literal(n)? {
                            Value::Number(n) => Step::Index(n.as_i64()?),
                            _ => return None,
                        },
                        Part::Index(Term::Neg(inner)) => match &**inner {
                            Term::Num(n) => Step::Index(-number_literal(n)?.as_i64()?),
                            _ => return None,
                        },
                        Part::Index(other) => Step::Dynamic(translate(other)?),
                        Part::Range(None, None) => Step::Iterate,
                        Part::Range(..) => return None,
                    };
                    Some((step, optional))
                })
                .collect::<Option<Vec<_>>>()?;
            Expr::Path(boxed(base)?, steps)
        }
        _ => return None,
    })
}

fn number_literal(n: &str) -> Option<Value> {
    if let Ok(i) = n.parse::<i64>() {
        return Some(Value::from(i));
    }
    n.parse::<f64>().ok().map(number)
}

fn string(parts: &[StrPart<&str, Term<&str>>]) -> Option<Expr> {
    let mut pieces = Vec::new();
    for part in parts {
        match part {
            StrPart::Str(s) => pieces.push(Piece::Text((*s).to_owned())),
            StrPart::Char(c) => pieces.push(Piece::Text(c.to_string())),
            StrPart::Term(t) => pieces.push(Piece::Interp(translate(t)?)),
        }
    }
    if pieces.iter().all(|p| matches!(p, Piece::Text(_))) {
        let text: String = pieces
            .into_iter()
            .filter_map(|p| match p {
                Piece::Text(t) => Some(t),
                Piece::Interp(_) => None,
            })
            .collect();
        return Some(Expr::Literal(Value::String(text)));
    }
    Some(Expr::Str(pieces))
}

fn binop(l: &Term<&str>, op: &BinaryOp<&str>, r: &Term<&str>) -> Option<Expr> {
    Some(match op {
        BinaryOp::Pipe(None) => Expr::Pipe(boxed(l)?, None, boxed(r)?),
        BinaryOp::Pipe(Some(Pattern::Var(name))) => {
            Expr::Pipe(boxed(l)?, Some(name.to_string()), boxed(r)?)
        }
        BinaryOp::Comma => Expr::Comma(boxed(l)?, boxed(r)?),
        BinaryOp::Alt => Expr::Alt(boxed(l)?, boxed(r)?),
        BinaryOp::Or => Expr::Or(boxed(l)?, boxed(r)?),
        BinaryOp::And => Expr::And(boxed(l)?, boxed(r)?),
        BinaryOp::Math(m) => Expr::Math(*m, boxed(l)?, boxed(r)?),
        BinaryOp::Cmp(c) => Expr::Cmp(*c, boxed(l)?, boxed(r)?),
        BinaryOp::Assign => Expr::Assign(static_path(l)?, boxed(r)?),
        BinaryOp::Update => Expr::Update(static_path(l)?, boxed(r)?),
        BinaryOp::UpdateMath(m) => Expr::UpdateMath(*m, static_path(l)?, boxed(r)?),
        _ => return None,
    })
}

/// A path made only of fixed keys and indices from `.`, as the left side of an assignment.
fn static_path(t: &Term<&str>) -> Option<Vec<Key>> {
    match t {
        Term::Id => Some(Vec::new()),
        Term::Path(base, path) => {
            let mut keys = static_path(base)?;
            for (part, opt) in &path.0 {
                if matches!(opt, Opt::Optional) {
                    return None;
                }
                keys.push(match part {
                    Part::Index(Term::Str(None, parts)) => match string(parts)? {
                        Expr::Literal(Value::String(s)) => Key::Field(s),
                        _ => return None,
                    },
                    Part::Index(Term::Num(n)) => Key::Index(number_literal(n)?.as_i64()?),
                    _ => return None,
                });
            }
            Some(keys)
        }
        _ => None,
    }
}

/// Why evaluation failed (jq's `error`).
#[derive(Debug)]
pub(crate) struct Failure(Value);

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Value::String(s) => f.write_str(s),
            other => write!(f, "{other} (not a string)"),
        }
    }
}

fn fail<T>(message: impl Into<String>) -> Result<T, Failure> {
    Err(Failure(Value::String(message.into())))
}

type Out<'a> = &'a mut dyn FnMut(Value) -> Result<bool, Failure>;

/// Variables in scope, innermost last.
struct Env<'a> {
    vars: Vec<(&'a str, Value)>,
}

impl Env<'_> {
    fn get(&self, name: &str) -> Result<Value, Failure> {
        if let Some((_, v)) = self.vars.iter().rev().find(|(n, _)| *n == name) {
            return Ok(v.clone());
        }
        if name == "$ENV" {
            return Ok(Value::Object(
                std::env::vars()
                    .map(|(k, v)| (k, Value::String(v)))
                    .collect(),
            ));
        }
        fail(format!("{name} is not defined"))
    }
}

/// Runs `expr` on `event`, calling `out` with each output.
pub(crate) fn run(expr: &Expr, event: &Event, out: &mut dyn FnMut(Value)) -> Result<(), String> {
    with_input(expr, event, |input| {
        let mut env = Env { vars: Vec::new() };
        eval(expr, input, &mut env, &mut |v| {
            out(v);
            Ok(true)
        })
        .map(|_| ())
    })
}

/// Whether the first output of `expr` on `event` is truthy.
pub(crate) fn test(expr: &Expr, event: &Event) -> Result<bool, String> {
    let mut first = None;
    with_input(expr, event, |input| {
        let mut env = Env { vars: Vec::new() };
        eval(expr, input, &mut env, &mut |v| {
            first = Some(truthy(&v));
            Ok(false)
        })
        .map(|_| ())
    })?;
    Ok(first.unwrap_or(false))
}

/// Gives `f` the event's value, or, for an unchanged event and a program that reads only some
/// top-level keys, an object of just those keys scanned from the original bytes.
fn with_input(
    expr: &Expr,
    event: &Event,
    f: impl FnOnce(&Value) -> Result<(), Failure>,
) -> Result<(), String> {
    let result = match (event.raw(), top_level_keys(expr)) {
        (Some(raw), Some(keys)) => match pick(raw, &keys) {
            Some(partial) => f(&partial),
            None => f(event.value()),
        },
        _ => f(event.value()),
    };
    result.map_err(|e| e.to_string())
}

/// The top-level keys a program reads, if it reads the input only through them.
fn top_level_keys(expr: &Expr) -> Option<BTreeSet<String>> {
    let mut keys = BTreeSet::new();
    reads_only_keys(expr, &mut keys).then_some(keys)
}

/// Whether `e`, evaluated on the root input, uses it only through `.key…` paths (collected).
fn reads_only_keys(e: &Expr, keys: &mut BTreeSet<String>) -> bool {
    match e {
        Expr::Literal(_) | Expr::Var(_) => true,
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
        // The right side of a pipe reads the left side's output, not the root.
        Expr::Pipe(l, _, _) => reads_only_keys(l, keys),
        Expr::Comma(l, r)
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

/// An object with the `keys` of the JSON object in `raw`; `None` if `raw` is not an object.
fn pick(raw: &[u8], keys: &BTreeSet<String>) -> Option<Value> {
    struct Pick<'k>(&'k BTreeSet<String>);
    impl<'de> DeserializeSeed<'de> for Pick<'_> {
        type Value = Option<Map<String, Value>>;
        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
    }
    impl<'de> Visitor<'de> for Pick<'_> {
        type Value = Option<Map<String, Value>>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = Map::new();
            while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                if self.0.contains(key.as_ref()) {
                    let value: Value = map.next_value()?;
                    out.insert(key.into_owned(), value);
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(Some(out))
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
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
            Ok(None)
        }
    }
    let mut de = serde_json::Deserializer::from_slice(raw);
    Pick(keys)
        .deserialize(&mut de)
        .ok()
        .flatten()
        .map(Value::Object)
}

/// Makes a number, as an integer when it is one (as jq prints it).
fn number(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 9.0e15 {
        Value::from(f as i64)
    } else {
        Number::from_f64(f).map_or(Value::Null, Value::Number)
    }
}

fn as_f64(v: &Value) -> Option<f64> {
    v.as_f64()
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn describe(v: &Value) -> String {
    let text = v.to_string();
    let short: String = text.chars().take(40).collect();
    format!(
        "{} ({short}{})",
        type_name(v),
        if text.len() > short.len() { "…" } else { "" }
    )
}

/// jq's order: null < false < true < numbers < strings < arrays < objects.
fn compare(a: &Value, b: &Value) -> Ordering {
    fn rank(v: &Value) -> u8 {
        match v {
            Value::Null => 0,
            Value::Bool(false) => 1,
            Value::Bool(true) => 2,
            Value::Number(_) => 3,
            Value::String(_) => 4,
            Value::Array(_) => 5,
            Value::Object(_) => 6,
        }
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x.cmp(&y),
            _ => x
                .as_f64()
                .unwrap_or(0.0)
                .total_cmp(&y.as_f64().unwrap_or(0.0)),
        },
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Array(x), Value::Array(y)) => {
            for (p, q) in x.iter().zip(y) {
                let o = compare(p, q);
                if o != Ordering::Equal {
                    return o;
                }
            }
            x.len().cmp(&y.len())
        }
        (Value::Object(x), Value::Object(y)) => {
            let mut xk: Vec<&String> = x.keys().collect();
            let mut yk: Vec<&String> = y.keys().collect();
            xk.sort();
            yk.sort();
            match xk.cmp(&yk) {
                Ordering::Equal => xk
                    .iter()
                    .map(|k| compare(&x[k.as_str()], &y[k.as_str()]))
                    .find(|o| *o != Ordering::Equal)
                    .unwrap_or(Ordering::Equal),
                other => other,
            }
        }
        _ => rank(a).cmp(&rank(b)),
    }
}

fn math(op: Math, a: Value, b: Value) -> Result<Value, Failure> {
    use Value::{Array, Null, Number as N, Object, String as S};
    Ok(match (op, a, b) {
        (Math::Add, Null, x) | (Math::Add, x, Null) => x,
        (op, N(x), N(y)) => {
            if let (Some(i), Some(j)) = (x.as_i64(), y.as_i64()) {
                let exact = match op {
                    Math::Add => i.checked_add(j),
                    Math::Sub => i.checked_sub(j),
                    Math::Mul => i.checked_mul(j),
                    Math::Div if j != 0 && i % j == 0 => i.checked_div(j),
                    Math::Rem if j != 0 => i.checked_rem(j),
                    Math::Div | Math::Rem if j == 0 => {
                        return fail(format!(
                            "{i} and {j} cannot be divided because the divisor is zero"
                        ));
                    }
                    _ => None,
                };
                if let Some(r) = exact {
                    return Ok(Value::from(r));
                }
            }
            let (p, q) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
            number(match op {
                Math::Add => p + q,
                Math::Sub => p - q,
                Math::Mul => p * q,
                Math::Div => p / q,
                Math::Rem => (p as i64 % (q as i64).max(1)) as f64,
            })
        }
        (Math::Add, S(x), S(y)) => S(x + &y),
        (Math::Add, Array(mut x), Array(y)) => {
            x.extend(y);
            Array(x)
        }
        (Math::Add, Object(mut x), Object(y)) => {
            x.extend(y);
            Object(x)
        }
        (Math::Sub, Array(x), Array(y)) => {
            Array(x.into_iter().filter(|v| !y.contains(v)).collect())
        }
        (Math::Div, S(x), S(y)) => Array(x.split(y.as_str()).map(|s| S(s.to_owned())).collect()),
        (op, a, b) => {
            let verb = match op {
                Math::Add => "added",
                Math::Sub => "subtracted",
                Math::Mul => "multiplied",
                Math::Div => "divided",
                Math::Rem => "divided (remainder)",
            };
            return fail(format!(
                "{} and {} cannot be {verb}",
                describe(&a),
                describe(&b)
            ));
        }
    })
}

fn index(v: &Value, step: &Value, optional: bool) -> Result<Option<Value>, Failure> {
    match (v, step) {
        (Value::Object(m), Value::String(k)) => Ok(Some(m.get(k).cloned().unwrap_or(Value::Null))),
        (Value::Array(a), Value::Number(n)) => {
            let i = n.as_f64().unwrap_or(0.0).floor() as i64;
            let i = if i < 0 { a.len() as i64 + i } else { i };
            Ok(Some(
                usize::try_from(i)
                    .ok()
                    .and_then(|i| a.get(i))
                    .cloned()
                    .unwrap_or(Value::Null),
            ))
        }
        (Value::Null, Value::String(_) | Value::Number(_)) => Ok(Some(Value::Null)),
        _ if optional => Ok(None),
        _ => fail(format!(
            "cannot index {} with {}",
            type_name(v),
            describe(step)
        )),
    }
}

fn eval<'e>(e: &'e Expr, input: &Value, env: &mut Env<'e>, out: Out<'_>) -> Result<bool, Failure> {
    match e {
        Expr::Identity => out(input.clone()),
        Expr::Literal(v) => out(v.clone()),
        Expr::Path(base, steps) => {
            let vars = env.vars.clone();
            eval(base, input, env, &mut |v| {
                walk(v, steps, Env { vars: vars.clone() }, out)
            })
        }
        Expr::Str(pieces) => strings(pieces, 0, String::new(), input, env, out),
        Expr::Array(inner) => {
            let mut items = Vec::new();
            if let Some(inner) = inner {
                eval(inner, input, env, &mut |v| {
                    items.push(v);
                    Ok(true)
                })?;
            }
            out(Value::Array(items))
        }
        Expr::Object(entries) => object(entries, 0, Map::new(), input, env, out),
        Expr::Neg(inner) => eval(inner, input, env, &mut |v| match v.as_f64() {
            Some(f) => out(number(-f)),
            None => fail(format!("{} cannot be negated", describe(&v))),
        }),
        Expr::Pipe(l, None, r) => {
            let mut values = Vec::new();
            let mut go = true;
            eval(l, input, env, &mut |v| {
                values.push(v);
                Ok(true)
            })?;
            for v in values {
                go = eval(r, &v, env, out)?;
                if !go {
                    break;
                }
            }
            Ok(go)
        }
        Expr::Pipe(l, Some(name), r) => {
            let mut values = Vec::new();
            eval(l, input, env, &mut |v| {
                values.push(v);
                Ok(true)
            })?;
            for v in values {
                env.vars.push((name.as_str(), v));
                let go = eval(r, input, env, out);
                env.vars.pop();
                if !go? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Expr::Comma(l, r) => Ok(eval(l, input, env, out)? && eval(r, input, env, out)?),
        Expr::Alt(l, r) => {
            let mut found = Vec::new();
            let result = eval(l, input, env, &mut |v| {
                if truthy(&v) {
                    found.push(v);
                }
                Ok(true)
            });
            if result.is_ok() && !found.is_empty() {
                for v in found {
                    if !out(v)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            } else {
                eval(r, input, env, out)
            }
        }
        Expr::Or(l, r) | Expr::And(l, r) => {
            let is_or = matches!(e, Expr::Or(..));
            let lefts = collect(l, input, env)?;
            for a in lefts {
                let decided = truthy(&a) == is_or;
                if decided {
                    if !out(Value::Bool(is_or))? {
                        return Ok(false);
                    }
                    continue;
                }
                let go = eval(r, input, env, &mut |b| out(Value::Bool(truthy(&b))))?;
                if !go {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Expr::Math(op, l, r) => {
            let rights = collect(r, input, env)?;
            let lefts = collect(l, input, env)?;
            for b in &rights {
                for a in &lefts {
                    if !out(math(*op, a.clone(), b.clone())?)? {
                        return Ok(false);
                    }
                }
            }
            Ok(true)
        }
        Expr::Cmp(op, l, r) => {
            let rights = collect(r, input, env)?;
            let lefts = collect(l, input, env)?;
            for b in &rights {
                for a in &lefts {
                    let o = compare(a, b);
                    let hit = match op {
                        Cmp::Eq => o == Ordering::Equal,
                        Cmp::Ne => o != Ordering::Equal,
                        Cmp::Lt => o == Ordering::Less,
                        Cmp::Le => o != Ordering::Greater,
                        Cmp::Gt => o == Ordering::Greater,
                        Cmp::Ge => o != Ordering::Less,
                    };
                    if !out(Value::Bool(hit))? {
                        return Ok(false);
                    }
                }
            }
            Ok(true)
        }
        Expr::Assign(path, rhs) => {
            for v in collect(rhs, input, env)? {
                let mut copy = input.clone();
                set_path(&mut copy, path, v)?;
                if !out(copy)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Expr::Update(path, f) => {
            let mut copy = input.clone();
            let current = get_path(&copy, path);
            match collect(f, &current, env)?.into_iter().next() {
                Some(v) => set_path(&mut copy, path, v)?,
                None => delete_path(&mut copy, path),
            }
            out(copy)
        }
        Expr::UpdateMath(op, path, rhs) => {
            for v in collect(rhs, input, env)? {
                let mut copy = input.clone();
                let current = get_path(&copy, path);
                set_path(&mut copy, path, math(*op, current, v)?)?;
                if !out(copy)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Expr::If(branches, otherwise) => {
            if_branches(branches, otherwise.as_deref(), input, env, out)
        }
        Expr::Try(body, catch) => {
            let mut emitted = Vec::new();
            match eval(body, input, env, &mut |v| {
                emitted.push(v);
                Ok(true)
            }) {
                Ok(_) => {
                    for v in emitted {
                        if !out(v)? {
                            return Ok(false);
                        }
                    }
                    Ok(true)
                }
                Err(Failure(err)) => {
                    for v in emitted {
                        if !out(v)? {
                            return Ok(false);
                        }
                    }
                    match catch {
                        Some(c) => eval(c, &err, env, out),
                        None => Ok(true),
                    }
                }
            }
        }
        Expr::Var(name) => out(env.get(name)?),
        Expr::Call(b, args) => call(*b, args, input, env, out),
    }
}

fn walk<'e>(
    v: Value,
    steps: &'e [(Step, bool)],
    mut env: Env<'e>,
    out: Out<'_>,
) -> Result<bool, Failure> {
    let Some(((step, optional), rest)) = steps.split_first() else {
        return out(v);
    };
    match step {
        Step::Key(k) => match index(&v, &Value::String(k.clone()), *optional)? {
            Some(next) => walk(next, rest, env, out),
            None => Ok(true),
        },
        Step::Index(i) => match index(&v, &Value::from(*i), *optional)? {
            Some(next) => walk(next, rest, env, out),
            None => Ok(true),
        },
        Step::Dynamic(e) => {
            let keys = collect(e, &v, &mut env)?;
            for k in keys {
                if let Some(next) = index(&v, &k, *optional)?
                    && !walk(
                        next,
                        rest,
                        Env {
                            vars: env.vars.clone(),
                        },
                        out,
                    )?
                {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Step::Iterate => {
            let items: Vec<Value> = match v {
                Value::Array(a) => a,
                Value::Object(m) => m.into_iter().map(|(_, v)| v).collect(),
                other if *optional => {
                    drop(other);
                    Vec::new()
                }
                other => return fail(format!("cannot iterate over {}", describe(&other))),
            };
            for item in items {
                if !walk(
                    item,
                    rest,
                    Env {
                        vars: env.vars.clone(),
                    },
                    out,
                )? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
    }
}

fn collect<'e>(e: &'e Expr, input: &Value, env: &mut Env<'e>) -> Result<Vec<Value>, Failure> {
    let mut values = Vec::new();
    eval(e, input, env, &mut |v| {
        values.push(v);
        Ok(true)
    })?;
    Ok(values)
}

fn first<'e>(e: &'e Expr, input: &Value, env: &mut Env<'e>) -> Result<Option<Value>, Failure> {
    let mut found = None;
    eval(e, input, env, &mut |v| {
        found = Some(v);
        Ok(false)
    })?;
    Ok(found)
}

fn strings<'e>(
    pieces: &'e [Piece],
    i: usize,
    acc: String,
    input: &Value,
    env: &mut Env<'e>,
    out: Out<'_>,
) -> Result<bool, Failure> {
    let Some(piece) = pieces.get(i) else {
        return out(Value::String(acc));
    };
    match piece {
        Piece::Text(t) => strings(pieces, i + 1, acc + t, input, env, out),
        Piece::Interp(e) => {
            for v in collect(e, input, env)? {
                let text = match v {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                if !strings(pieces, i + 1, acc.clone() + &text, input, env, out)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
    }
}

fn object<'e>(
    entries: &'e [(ObjKey, Option<Expr>)],
    i: usize,
    acc: Map<String, Value>,
    input: &Value,
    env: &mut Env<'e>,
    out: Out<'_>,
) -> Result<bool, Failure> {
    let Some((key, value)) = entries.get(i) else {
        return out(Value::Object(acc));
    };
    let keys = match key {
        ObjKey::Static(k) => vec![Value::String(k.clone())],
        ObjKey::Var(name) => vec![Value::String(name.trim_start_matches('$').to_owned())],
        ObjKey::Dynamic(e) => collect(e, input, env)?,
    };
    for k in keys {
        let Value::String(k) = k else {
            return fail(format!("object keys must be strings, not {}", describe(&k)));
        };
        let values = match (value, key) {
            (Some(e), _) => collect(e, input, env)?,
            (None, ObjKey::Var(name)) => vec![env.get(name)?],
            (None, _) => {
                vec![index(input, &Value::String(k.clone()), false)?.unwrap_or(Value::Null)]
            }
        };
        for v in values {
            let mut next = acc.clone();
            next.insert(k.clone(), v);
            if !object(entries, i + 1, next, input, env, out)? {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

fn if_branches<'e>(
    branches: &'e [(Expr, Expr)],
    otherwise: Option<&'e Expr>,
    input: &Value,
    env: &mut Env<'e>,
    out: Out<'_>,
) -> Result<bool, Failure> {
    let Some(((cond, then), rest)) = branches.split_first() else {
        return match otherwise {
            Some(e) => eval(e, input, env, out),
            None => out(input.clone()),
        };
    };
    for c in collect(cond, input, env)? {
        let go = if truthy(&c) {
            eval(then, input, env, out)?
        } else {
            if_branches(rest, otherwise, input, env, out)?
        };
        if !go {
            return Ok(false);
        }
    }
    Ok(true)
}

fn get_path(v: &Value, path: &[Key]) -> Value {
    let mut cur = v;
    for key in path {
        let next = match (cur, key) {
            (Value::Object(m), Key::Field(k)) => m.get(k),
            (Value::Array(a), Key::Index(i)) => {
                let i = if *i < 0 { a.len() as i64 + i } else { *i };
                usize::try_from(i).ok().and_then(|i| a.get(i))
            }
            _ => None,
        };
        match next {
            Some(n) => cur = n,
            None => return Value::Null,
        }
    }
    cur.clone()
}

fn set_path(v: &mut Value, path: &[Key], new: Value) -> Result<(), Failure> {
    let Some((key, rest)) = path.split_first() else {
        *v = new;
        return Ok(());
    };
    if v.is_null() {
        *v = match key {
            Key::Field(_) => Value::Object(Map::new()),
            Key::Index(_) => Value::Array(Vec::new()),
        };
    }
    match (v, key) {
        (Value::Object(m), Key::Field(k)) => {
            set_path(m.entry(k.clone()).or_insert(Value::Null), rest, new)
        }
        (Value::Array(a), Key::Index(i)) => {
            let i = if *i < 0 { a.len() as i64 + i } else { *i };
            let Ok(i) = usize::try_from(i) else {
                return fail("out of bounds negative array index");
            };
            if a.len() <= i {
                a.resize(i + 1, Value::Null);
            }
            set_path(&mut a[i], rest, new)
        }
        (v, key) => fail(format!(
            "cannot index {} with {}",
            type_name(v),
            match key {
                Key::Field(k) => format!("\"{k}\""),
                Key::Index(i) => i.to_string(),
            }
        )),
    }
}

fn delete_path(v: &mut Value, path: &[Key]) {
    let Some((key, rest)) = path.split_first() else {
        *v = Value::Null;
        return;
    };
    match (v, key) {
        (Value::Object(m), Key::Field(k)) if rest.is_empty() => {
            m.shift_remove(k);
        }
        (Value::Object(m), Key::Field(k)) => {
            if let Some(child) = m.get_mut(k) {
                delete_path(child, rest);
            }
        }
        (Value::Array(a), Key::Index(i)) => {
            let i = if *i < 0 { a.len() as i64 + i } else { *i };
            if let Ok(i) = usize::try_from(i)
                && i < a.len()
            {
                if rest.is_empty() {
                    a.remove(i);
                } else {
                    delete_path(&mut a[i], rest);
                }
            }
        }
        _ => {}
    }
}

/// A regex from a literal pattern, cached per call site.
fn regex(pattern: &Value) -> Result<Regex, Failure> {
    match pattern {
        Value::String(p) => Regex::new(p)
            .map_err(|e| Failure(Value::String(format!("{p} is not a valid regex: {e}")))),
        other => fail(format!(
            "{} cannot be matched, as it is not a string",
            describe(other)
        )),
    }
}

fn string_arg<'e>(
    args: &'e [Expr],
    i: usize,
    input: &Value,
    env: &mut Env<'e>,
) -> Result<String, Failure> {
    match args
        .get(i)
        .map(|a| first(a, input, env))
        .transpose()?
        .flatten()
    {
        Some(Value::String(s)) => Ok(s),
        Some(other) => fail(format!("{} is not a string", describe(&other))),
        None => fail("missing argument"),
    }
}

fn call<'e>(
    b: Builtin,
    args: &'e [Expr],
    input: &Value,
    env: &mut Env<'e>,
    out: Out<'_>,
) -> Result<bool, Failure> {
    use Builtin as B;
    let text = |v: &Value| -> Result<String, Failure> {
        match v {
            Value::String(s) => Ok(s.clone()),
            other => fail(format!("{} is not a string", describe(other))),
        }
    };
    let value = match b {
        B::Not => Value::Bool(!truthy(input)),
        B::Length => match input {
            Value::Null => Value::from(0),
            Value::Bool(_) => return fail(format!("{} has no length", describe(input))),
            Value::Number(n) => number(n.as_f64().unwrap_or(0.0).abs()),
            Value::String(s) => Value::from(s.chars().count()),
            Value::Array(a) => Value::from(a.len()),
            Value::Object(m) => Value::from(m.len()),
        },
        B::Keys => match input {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                Value::Array(keys.into_iter().map(|k| Value::String(k.clone())).collect())
            }
            Value::Array(a) => Value::Array((0..a.len()).map(Value::from).collect()),
            other => return fail(format!("{} has no keys", describe(other))),
        },
        B::Has => {
            let key = first(&args[0], input, env)?.unwrap_or(Value::Null);
            match (input, &key) {
                (Value::Object(m), Value::String(k)) => Value::Bool(m.contains_key(k)),
                (Value::Array(a), Value::Number(n)) => Value::Bool(
                    n.as_f64()
                        .is_some_and(|i| i >= 0.0 && (i as usize) < a.len()),
                ),
                _ => {
                    return fail(format!(
                        "cannot check whether {} has a key {}",
                        type_name(input),
                        describe(&key)
                    ));
                }
            }
        }
        B::Del => {
            let Some(path) = path_of(&args[0]) else {
                return fail("del() needs a path of fixed keys, such as del(.a.b)");
            };
            let mut copy = input.clone();
            delete_path(&mut copy, &path);
            copy
        }
        B::Select => {
            for c in collect(&args[0], input, env)? {
                if truthy(&c) && !out(input.clone())? {
                    return Ok(false);
                }
            }
            return Ok(true);
        }
        B::Empty => return Ok(true),
        B::Error0 => return Err(Failure(input.clone())),
        B::Error1 => return Err(Failure(first(&args[0], input, env)?.unwrap_or(Value::Null))),
        B::ToString => match input {
            Value::String(_) => input.clone(),
            other => Value::String(other.to_string()),
        },
        B::ToNumber => match input {
            Value::Number(_) => input.clone(),
            Value::String(s) => match s.trim().parse::<f64>() {
                Ok(f) => number(f),
                Err(_) => return fail(format!("cannot parse '{s}' as a number")),
            },
            other => return fail(format!("{} cannot be parsed as a number", describe(other))),
        },
        B::ToJson => Value::String(input.to_string()),
        B::FromJson => match serde_json::from_str(&text(input)?) {
            Ok(v) => v,
            Err(e) => return fail(format!("{} is not valid JSON: {e}", describe(input))),
        },
        B::Downcase => Value::String(text(input)?.to_ascii_lowercase()),
        B::Upcase => Value::String(text(input)?.to_ascii_uppercase()),
        B::Trim => Value::String(text(input)?.trim().to_owned()),
        B::LTrimStr | B::RTrimStr => {
            let affix = first(&args[0], input, env)?.unwrap_or(Value::Null);
            match (input, &affix) {
                (Value::String(s), Value::String(a)) => Value::String(
                    if b == B::LTrimStr {
                        s.strip_prefix(a.as_str())
                    } else {
                        s.strip_suffix(a.as_str())
                    }
                    .unwrap_or(s)
                    .to_owned(),
                ),
                _ => input.clone(),
            }
        }
        B::StartsWith | B::EndsWith => {
            let s = text(input)?;
            let affix = string_arg(args, 0, input, env)?;
            Value::Bool(if b == B::StartsWith {
                s.starts_with(&affix)
            } else {
                s.ends_with(&affix)
            })
        }
        B::Contains => {
            let needle = first(&args[0], input, env)?.unwrap_or(Value::Null);
            Value::Bool(contains(input, &needle)?)
        }
        B::Split => {
            let s = text(input)?;
            let sep = string_arg(args, 0, input, env)?;
            Value::Array(
                s.split(sep.as_str())
                    .map(|p| Value::String(p.to_owned()))
                    .collect(),
            )
        }
        B::Join => {
            let sep = string_arg(args, 0, input, env)?;
            let Value::Array(items) = input else {
                return fail(format!("cannot join {}", describe(input)));
            };
            let parts: Result<Vec<String>, Failure> = items
                .iter()
                .map(|v| match v {
                    Value::Null => Ok(String::new()),
                    Value::String(s) => Ok(s.clone()),
                    Value::Number(_) | Value::Bool(_) => Ok(v.to_string()),
                    other => fail(format!("cannot join with {}", describe(other))),
                })
                .collect();
            Value::String(parts?.join(&sep))
        }
        B::Test => {
            let re = regex(&first(&args[0], input, env)?.unwrap_or(Value::Null))?;
            Value::Bool(re.is_match(&text(input)?))
        }
        B::Sub | B::Gsub => {
            let re = regex(&first(&args[0], input, env)?.unwrap_or(Value::Null))?;
            let with = string_arg(args, 1, input, env)?;
            let s = text(input)?;
            let replaced = if b == B::Sub {
                re.replacen(&s, 1, with.as_str())
            } else {
                re.replace_all(&s, with.as_str())
            };
            Value::String(replaced.into_owned())
        }
        B::Type => Value::String(type_name(input).to_owned()),
        B::Floor | B::Ceil | B::Round | B::Sqrt | B::Fabs => {
            let Some(f) = as_f64(input) else {
                return fail(format!("{} is not a number", describe(input)));
            };
            number(match b {
                B::Floor => f.floor(),
                B::Ceil => f.ceil(),
                B::Round => f.round(),
                B::Sqrt => f.sqrt(),
                _ => f.abs(),
            })
        }
        B::Add => match input {
            Value::Array(items) => {
                let mut acc = Value::Null;
                for item in items {
                    acc = math(Math::Add, acc, item.clone())?;
                }
                acc
            }
            Value::Object(m) => {
                let mut acc = Value::Null;
                for item in m.values() {
                    acc = math(Math::Add, acc, item.clone())?;
                }
                acc
            }
            other => return fail(format!("cannot add the items of {}", describe(other))),
        },
        B::Min | B::Max | B::Sort | B::Unique | B::Reverse | B::Any | B::All => {
            let Value::Array(items) = input else {
                if b == B::Reverse && input.is_null() {
                    return out(Value::Array(Vec::new()));
                }
                return fail(format!("{} is not an array", describe(input)));
            };
            let mut items = items.clone();
            match b {
                B::Min => items.into_iter().min_by(compare).unwrap_or(Value::Null),
                B::Max => items.into_iter().max_by(compare).unwrap_or(Value::Null),
                B::Sort => {
                    items.sort_by(compare);
                    Value::Array(items)
                }
                B::Unique => {
                    items.sort_by(compare);
                    items.dedup_by(|a, b| compare(a, b) == Ordering::Equal);
                    Value::Array(items)
                }
                B::Reverse => {
                    items.reverse();
                    Value::Array(items)
                }
                B::Any => Value::Bool(items.iter().any(truthy)),
                _ => Value::Bool(items.iter().all(truthy)),
            }
        }
        B::Map => {
            let items: Vec<Value> = match input {
                Value::Array(a) => a.clone(),
                Value::Object(m) => m.values().cloned().collect(),
                other => return fail(format!("cannot iterate over {}", describe(other))),
            };
            let mut mapped = Vec::new();
            for item in &items {
                mapped.extend(collect(&args[0], item, env)?);
            }
            Value::Array(mapped)
        }
        B::MapValues => match input {
            Value::Array(a) => {
                let mut mapped = Vec::new();
                for item in a {
                    if let Some(v) = first(&args[0], item, env)? {
                        mapped.push(v);
                    }
                }
                Value::Array(mapped)
            }
            Value::Object(m) => {
                let mut mapped = Map::new();
                for (k, item) in m {
                    if let Some(v) = first(&args[0], item, env)? {
                        mapped.insert(k.clone(), v);
                    }
                }
                Value::Object(mapped)
            }
            other => return fail(format!("cannot iterate over {}", describe(other))),
        },
        B::ToEntries => match input {
            Value::Object(m) => Value::Array(
                m.iter()
                    .map(|(k, v)| serde_json::json!({"key": k, "value": v}))
                    .collect(),
            ),
            other => return fail(format!("{} has no keys", describe(other))),
        },
        B::FromEntries => {
            let Value::Array(items) = input else {
                return fail(format!("{} is not an array of entries", describe(input)));
            };
            let mut m = Map::new();
            for item in items {
                let key = ["key", "k", "name", "Name", "Key", "K"]
                    .iter()
                    .find_map(|k| item.get(*k).filter(|v| !v.is_null()));
                let key = match key {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Number(n)) => n.to_string(),
                    Some(Value::Bool(b)) => b.to_string(),
                    _ => return fail(format!("{} has no key", describe(item))),
                };
                let value = ["value", "v", "Value", "V"]
                    .iter()
                    .find_map(|k| item.get(*k))
                    .cloned()
                    .unwrap_or(Value::Null);
                m.insert(key, value);
            }
            Value::Object(m)
        }
        B::Values => {
            if input.is_null() {
                return Ok(true);
            }
            input.clone()
        }
        B::IsNull => Value::Bool(input.is_null()),
        B::Now => number(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
        ),
    };
    out(value)
}

fn path_of(e: &Expr) -> Option<Vec<Key>> {
    match e {
        Expr::Identity => Some(Vec::new()),
        Expr::Path(base, steps) => {
            let mut keys = path_of(base)?;
            for (step, optional) in steps {
                if *optional {
                    return None;
                }
                keys.push(match step {
                    Step::Key(k) => Key::Field(k.clone()),
                    Step::Index(i) => Key::Index(*i),
                    _ => return None,
                });
            }
            Some(keys)
        }
        _ => None,
    }
}

fn contains(a: &Value, b: &Value) -> Result<bool, Failure> {
    Ok(match (a, b) {
        (Value::String(x), Value::String(y)) => x.contains(y.as_str()),
        (Value::Array(x), Value::Array(y)) => {
            let mut all = true;
            for needle in y {
                let mut any = false;
                for hay in x {
                    if contains(hay, needle)? {
                        any = true;
                        break;
                    }
                }
                all &= any;
            }
            all
        }
        (Value::Object(x), Value::Object(y)) => {
            let mut all = true;
            for (k, needle) in y {
                all &= match x.get(k) {
                    Some(hay) => contains(hay, needle)?,
                    None => false,
                };
            }
            all
        }
        (x, y) if type_name(x) == type_name(y) => compare(x, y) == Ordering::Equal,
        (x, y) => {
            return fail(format!(
                "{} and {} cannot have their containment checked",
                describe(x),
                describe(y)
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn outputs(code: &str, input: Value) -> Result<Vec<Value>, String> {
        let expr = compile(code).unwrap_or_else(|| panic!("`{code}` should be native"));
        let event = Event::new(input);
        let mut out = Vec::new();
        run(&expr, &event, &mut |v| out.push(v))?;
        Ok(out)
    }

    #[test]
    fn paths_literals_and_operators() {
        let doc = json!({"a": {"b": [1, 2, 3]}, "n": 7, "s": "Hi"});
        assert_eq!(outputs(".a.b[1]", doc.clone()), Ok(vec![json!(2)]));
        assert_eq!(
            outputs(".a.b[-1] + .n * 2", doc.clone()),
            Ok(vec![json!(17)])
        );
        assert_eq!(
            outputs(".a.b[]", doc.clone()),
            Ok(vec![json!(1), json!(2), json!(3)])
        );
        assert_eq!(
            outputs(".missing.deeper", doc.clone()),
            Ok(vec![json!(null)])
        );
        assert_eq!(
            outputs(".n / 2, .n % 4", doc.clone()),
            Ok(vec![json!(3.5), json!(3)])
        );
        assert_eq!(
            outputs(r#""\(.s), \(.n)!""#, doc.clone()),
            Ok(vec![json!("Hi, 7!")])
        );
        assert_eq!(
            outputs(".x // \"default\"", doc.clone()),
            Ok(vec![json!("default")])
        );
        assert_eq!(
            outputs("[.a.b[] | select(. > 1)]", doc.clone()),
            Ok(vec![json!([2, 3])])
        );
        assert_eq!(
            outputs("{s, total: (.a.b | add)}", doc.clone()),
            Ok(vec![json!({"s": "Hi", "total": 6})])
        );
        assert_eq!(
            outputs(
                "if .n > 5 then \"big\" elif .n > 2 then \"mid\" else \"small\" end",
                doc.clone()
            ),
            Ok(vec![json!("big")])
        );
        assert_eq!(outputs(".n as $x | $x + 1", doc), Ok(vec![json!(8)]));
    }

    #[test]
    fn assignment_and_update_keep_key_order() {
        let doc = json!({"service": "api", "latency_ms": 150});
        let out = outputs(
            ".slow = (.latency_ms > 100) | .service |= ascii_upcase",
            doc,
        )
        .expect("runs");
        assert_eq!(
            out,
            vec![json!({"service": "API", "latency_ms": 150, "slow": true})]
        );
        assert_eq!(
            serde_json::to_string(&out[0]).expect("json"),
            r#"{"service":"API","latency_ms":150,"slow":true}"#
        );
        assert_eq!(
            outputs(".n += 2 | del(.x)", json!({"n": 1, "x": 0})),
            Ok(vec![json!({"n": 3})])
        );
    }

    #[test]
    fn comparisons_follow_jq_order_and_logic() {
        let doc = json!({"level": "WARN"});
        assert_eq!(
            outputs(r#".level == "ERROR" or .level == "WARN""#, doc.clone()),
            Ok(vec![json!(true)])
        );
        assert_eq!(
            outputs("null < false and 1 < \"a\" and [1] < {}", doc.clone()),
            Ok(vec![json!(true)])
        );
        assert_eq!(outputs("1 == 1.0", doc), Ok(vec![json!(true)]));
    }

    #[test]
    fn errors_say_what_went_wrong() {
        let err = outputs(".a + 1", json!({"a": "x"})).expect_err("string plus number");
        assert_eq!(err, r#"string ("x") and number (1) cannot be added"#);
        assert_eq!(
            outputs("try (.a + 1) catch \"no\"", json!({"a": "x"})),
            Ok(vec![json!("no")])
        );
        assert_eq!(
            outputs(".a.b", json!({"a": 3})).expect_err("index"),
            "cannot index number with string (\"b\")"
        );
    }

    #[test]
    fn string_functions() {
        let doc = json!({"msg": "request completed path=/v1 status=500"});
        assert_eq!(
            outputs(r#".msg | test("status=5\\d\\d")"#, doc.clone()),
            Ok(vec![json!(true)])
        );
        assert_eq!(
            outputs(r#".msg | sub("status=\\d+"; "status=?")"#, doc.clone()),
            Ok(vec![json!("request completed path=/v1 status=?")])
        );
        assert_eq!(
            outputs(r#".msg | split(" ") | length"#, doc.clone()),
            Ok(vec![json!(4)])
        );
        assert_eq!(
            outputs(r#"["a", 1, null] | join("-")"#, doc),
            Ok(vec![json!("a-1-")])
        );
    }

    #[test]
    fn outside_the_subset_falls_back() {
        assert!(compile("reduce .[] as $x (0; . + $x)").is_none());
        assert!(compile("def f: 1; f").is_none());
        assert!(compile(".a[1:2]").is_none());
    }

    #[test]
    fn reads_only_the_keys_a_condition_names() {
        let expr = compile(r#".level == "ERROR" or (.http.status // 0) >= 500"#).expect("native");
        let keys = top_level_keys(&expr).expect("keys only");
        assert_eq!(keys.into_iter().collect::<Vec<_>>(), vec!["http", "level"]);
        assert!(top_level_keys(&compile(".slow = true").expect("native")).is_none());
        assert!(top_level_keys(&compile("keys").expect("native")).is_none());
        let event = Event::from_json_bytes(bytes::Bytes::from_static(
            br#"{"level":"ERROR","big":[1,2,3]}"#,
        ));
        assert_eq!(test(&expr, &event), Ok(true));
        assert!(event.raw().is_some(), "the event was not rebuilt");
    }
}

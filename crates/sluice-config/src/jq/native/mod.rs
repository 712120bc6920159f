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

mod builtins;
mod eval;
mod raw;
mod value;

use std::collections::BTreeSet;
use std::fmt;

use jaq_core::load::lex::StrPart;
use jaq_core::load::parse::{BinaryOp, Pattern, Term};
use jaq_core::load::{Lexer, Parser};
use jaq_core::ops::{Cmp, Math};
use jaq_core::path::{Opt, Part};
use serde_json::Value;
use sluice_event::Event;

use super::truthy;
use eval::{eval, eval_owned, truth};
use raw::{pick, top_level_keys};
use value::number;

/// A compiled expression.
#[derive(Clone)]
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
#[derive(Clone)]
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

#[derive(Clone)]
pub(crate) enum Piece {
    Text(String),
    Interp(Expr),
}

#[derive(Clone)]
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

/// A compiled program and what it reads of its input.
pub(crate) struct Native {
    expr: Expr,
    /// The top-level keys the program reads, when it reads nothing else of the input.
    keys: Option<BTreeSet<String>>,
    /// The program as edits of top-level fields, when it is only that.
    edit: Option<raw::Edit>,
}

/// Translates `code` if it is within the native subset.
pub(crate) fn compile(code: &str) -> Option<Native> {
    let tokens = Lexer::new(code).lex().ok()?;
    let term = Parser::new(&tokens)
        .parse(jaq_core::load::Parser::term)
        .ok()?;
    let expr = translate(&term)?;
    let keys = top_level_keys(&expr);
    let edit = raw::edit_plan(&expr);
    Some(Native { expr, keys, edit })
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

/// Runs the program on `event`, calling `out` with each output.
pub(crate) fn run(
    program: &Native,
    event: &Event,
    out: &mut dyn FnMut(Value),
) -> Result<(), String> {
    with_input(program, event, |input| {
        let mut env = Env { vars: Vec::new() };
        eval(&program.expr, input, &mut env, &mut |v| {
            out(v);
            Ok(true)
        })
        .map(|_| ())
    })
}

/// Runs the program on a value it may change in place (a transform's input, which is not
/// needed afterwards): assignments and updates then cost no copy of the whole event.
pub(crate) fn run_owned(
    program: &Native,
    input: Value,
    out: &mut dyn FnMut(Value),
) -> Result<(), String> {
    let mut env = Env { vars: Vec::new() };
    eval_owned(&program.expr, input, &mut env, &mut |v| {
        out(v);
        Ok(true)
    })
    .map(|_| ())
    .map_err(|e| e.to_string())
}

/// Runs a program made only of field edits on an event's original text, giving the new text;
/// `None` when the general evaluator is needed.
pub(crate) fn edit_raw(program: &Native, raw: &[u8]) -> Option<Result<Vec<u8>, String>> {
    let edit = program.edit.as_ref()?;
    edit.apply(raw).map(|r| r.map_err(|e| e.to_string()))
}

/// Whether the first output of the program on `event` is truthy.
pub(crate) fn test(program: &Native, event: &Event) -> Result<bool, String> {
    let mut first = None;
    with_input(program, event, |input| {
        if let Some(result) = truth(&program.expr, input) {
            first = Some(result?);
            return Ok(());
        }
        let mut env = Env { vars: Vec::new() };
        eval(&program.expr, input, &mut env, &mut |v| {
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
    program: &Native,
    event: &Event,
    f: impl FnOnce(&Value) -> Result<(), Failure>,
) -> Result<(), String> {
    let result = match (event.raw(), &program.keys) {
        (Some(raw), Some(keys)) => match pick(raw, keys) {
            Some(partial) => f(&partial),
            None => f(event.value()),
        },
        _ => f(event.value()),
    };
    result.map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests;

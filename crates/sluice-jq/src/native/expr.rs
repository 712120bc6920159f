//! The native evaluator's program: expressions, the builtins they call, and what evaluation
//! carries (variables in scope) and fails with.

use std::fmt;

use jaq_core::ops::{Cmp, Math};
use regex::Regex;
use serde_json::Value;

/// A compiled expression.
#[derive(Clone)]
pub(super) enum Expr {
    Identity,
    Literal(Value),
    /// A string literal given to a regex function as its pattern, compiled once.
    Pattern(Value, Box<Regex>),
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
pub(super) enum Step {
    Key(String),
    Index(i64),
    Dynamic(Expr),
    Iterate,
}

/// A static path step (for assignment).
#[derive(Clone)]
pub(super) enum Key {
    Field(String),
    Index(i64),
}

#[derive(Clone)]
pub(super) enum Piece {
    Text(String),
    Interp(Expr),
}

#[derive(Clone)]
pub(super) enum ObjKey {
    Static(String),
    Dynamic(Expr),
    Var(String),
}

/// Functions the native evaluator knows, by name and arity.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Builtin {
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

/// Why evaluation failed (jq's `error`).
#[derive(Debug)]
pub(super) struct Failure(pub(super) Value);

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Value::String(s) => f.write_str(s),
            other => write!(f, "{other} (not a string)"),
        }
    }
}

pub(super) fn fail<T>(message: impl Into<String>) -> Result<T, Failure> {
    Err(Failure(Value::String(message.into())))
}

pub(super) type Out<'a> = &'a mut dyn FnMut(Value) -> Result<bool, Failure>;

/// Variables in scope, innermost last.
pub(super) struct Env<'a> {
    pub(super) vars: Vec<(&'a str, Value)>,
}

impl Env<'_> {
    pub(super) fn get(&self, name: &str) -> Result<Value, Failure> {
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

//! jq programs: conditions of `filter` and `route`, transforms of `jq`, aggregations of `window`.
//!
//! A program is compiled once per stage. Programs written in the common subset of jq (paths,
//! literals, comparisons, arithmetic, `and`/`or`/`not`, `if`, object and array construction,
//! assignment and update of paths, string interpolation and the usual string and number
//! functions) run on a native evaluator over the event's JSON; anything else runs on `jaq`,
//! the complete jq implementation. Both give the same results; the native one is several times
//! faster, and on an unchanged event it reads only the fields the program names.

mod jaq;
mod native;

use std::fmt;
use std::sync::Arc;

use serde_json::Value;
use sluice_connect::Event;

/// Why a program did not compile, and where in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JqError {
    /// What is wrong.
    pub message: String,
    /// Byte offset in the program.
    pub offset: usize,
}

impl JqError {
    fn new(message: String, offset: usize) -> JqError {
        JqError { message, offset }
    }
}

impl fmt::Display for JqError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at character {})", self.message, self.offset + 1)
    }
}

enum Engine {
    Native(native::Expr),
    Jaq(jaq::JaqProgram),
}

/// A compiled jq program; cheap to clone.
#[derive(Clone)]
pub struct Program {
    code: Arc<str>,
    engine: Arc<Engine>,
}

impl fmt::Debug for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let engine = match *self.engine {
            Engine::Native(_) => "native",
            Engine::Jaq(_) => "jaq",
        };
        write!(f, "Program({:?}, {engine})", self.code)
    }
}

impl Program {
    /// Compiles `code`.
    pub fn compile(code: &str) -> Result<Program, JqError> {
        // jaq checks the whole program (syntax, undefined names) even when it runs natively.
        let general = jaq::JaqProgram::compile(code)?;
        let engine = match native::compile(code) {
            Some(expr) => Engine::Native(expr),
            None => Engine::Jaq(general),
        };
        Ok(Program {
            code: Arc::from(code),
            engine: Arc::new(engine),
        })
    }

    /// The program's text.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// Whether it runs on the native evaluator.
    pub fn is_native(&self) -> bool {
        matches!(*self.engine, Engine::Native(_))
    }

    /// Every output of the program on `event`.
    pub fn outputs(&self, event: &Event) -> Result<Vec<Value>, String> {
        let mut out = Vec::new();
        self.each(event, &mut |v| out.push(v))?;
        Ok(out)
    }

    /// Calls `out` with each output of the program on `event`.
    pub fn each(&self, event: &Event, out: &mut dyn FnMut(Value)) -> Result<(), String> {
        match &*self.engine {
            Engine::Native(expr) => native::run(expr, event, out),
            Engine::Jaq(program) => program.run(event, out),
        }
    }

    /// Whether the program's first output is truthy (neither `false` nor `null`); no output
    /// counts as false.
    pub fn test(&self, event: &Event) -> Result<bool, String> {
        match &*self.engine {
            Engine::Native(expr) => native::test(expr, event),
            Engine::Jaq(program) => {
                let mut first = None;
                program.run(event, &mut |v| {
                    first.get_or_insert(v);
                })?;
                Ok(first.is_some_and(|v| truthy(&v)))
            }
        }
    }
}

/// jq's truth: everything but `false` and `null`.
pub(crate) fn truthy(v: &Value) -> bool {
    !matches!(v, Value::Null | Value::Bool(false))
}

//! `sluice-jq`: the jq language of Sluice pipelines (conditions of `filter` and `route`,
//! transforms of `jq`, keys and aggregations of `window`, `dedupe` and the Kafka sink).
//!
//! A [`Program`] is compiled once per stage. Programs written in the common subset of jq (paths,
//! literals, comparisons, arithmetic, `and`/`or`/`not`, `if`, object and array construction,
//! assignment and update of paths, string interpolation and the usual string and number
//! functions) run on a native evaluator over the event's JSON; anything else runs on `jaq`,
//! the complete jq implementation. Both give the same results; the native one is several times
//! faster, and on an unchanged event it reads only the fields the program names.

pub mod cost;
mod error;
mod jaq;
mod native;

pub use error::JqError;
pub use native::number;

use std::fmt;
use std::sync::Arc;

use serde_json::Value;
use sluice_event::Event;

enum Engine {
    Native(native::Native),
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

    /// Compiles `code` for jaq alone, even when the native evaluator covers it: the reference
    /// that the native evaluator is checked and measured against.
    pub fn compile_general(code: &str) -> Result<Program, JqError> {
        Ok(Program {
            code: Arc::from(code),
            engine: Arc::new(Engine::Jaq(jaq::JaqProgram::compile(code)?)),
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
            Engine::Jaq(program) => program.run(event, &mut |v| {
                out(v);
                true
            }),
        }
    }

    /// Runs the program on `event`, which it may consume: each output becomes an event with the
    /// same origin. On failure the event comes back, as it was, with the reason.
    pub fn apply(&self, mut event: Event) -> Result<Vec<Event>, (Event, String)> {
        let program = match &*self.engine {
            Engine::Native(program) if !native::scans_keys(program, &event) => program,
            // jaq, and a native program that reads only some keys of an unchanged event: it
            // scans them from the event's text, and the event's value is never built.
            _ => {
                let mut values = Vec::with_capacity(1);
                return match self.each(&event, &mut |v| values.push(v)) {
                    Ok(()) => Ok(values.into_iter().map(|v| event.derive(v)).collect()),
                    Err(err) => Err((event, err)),
                };
            }
        };
        if let Some(raw) = event.raw()
            && let Some(edited) = native::edit_raw(program, raw)
        {
            return match edited {
                Ok(text) => Ok(vec![event.derive_raw(bytes::Bytes::from(text))]),
                Err(err) => Err((event, err)),
            };
        }
        // The input is changed in place; keep a cheap way back to it for a failure.
        let original = match event.raw() {
            Some(raw) => Original::Raw(raw.clone()),
            None => Original::Value(event.value().clone()),
        };
        let input = event.take_value();
        let mut values = Vec::with_capacity(1);
        match native::run_owned(program, input, &mut |v| values.push(v)) {
            Ok(()) => Ok(values.into_iter().map(|v| event.derive(v)).collect()),
            Err(err) => {
                let restored = match original {
                    Original::Raw(raw) => event.derive_raw(raw),
                    Original::Value(value) => event.derive(value),
                };
                Err((restored, err))
            }
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
                    first = Some(v);
                    false
                })?;
                Ok(first.is_some_and(|v| native::truthy(&v)))
            }
        }
    }
}

/// A program is read from its text (in a pipeline file, `condition: .level == "ERROR"`) and
/// compiled as it is read, so a program that does not compile is an error at its key.
impl<'de> serde::Deserialize<'de> for Program {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Program, D::Error> {
        let code = String::deserialize(deserializer)?;
        Program::compile(&code).map_err(|e| serde::de::Error::custom(format!("invalid jq: {e}")))
    }
}

/// How to give a failed event back after its value was consumed.
enum Original {
    Raw(bytes::Bytes),
    Value(Value),
}

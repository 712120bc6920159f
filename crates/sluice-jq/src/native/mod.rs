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
mod expr;
mod outputs;
mod paths;
mod raw;
mod translate;
mod value;

pub use value::number;
pub(crate) use value::truthy;

use jaq_core::load::{Lexer, Parser};
use serde_json::Value;
use sluice_event::Event;

use eval::{eval, eval_owned, truth};
use expr::{Env, Expr, Failure};
use raw::Slots;
use translate::translate;

/// A compiled program and what it reads of its input.
pub(crate) struct Native {
    expr: Expr,
    /// The program reading the top-level keys it needs from an array of their values, when it
    /// reads nothing else of the input.
    slots: Option<Slots>,
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
    let slots = Slots::of(&expr);
    let edit = raw::edit_plan(&expr);
    Some(Native { expr, slots, edit })
}

/// Runs the program on `event`, calling `out` with each output.
pub(crate) fn run(
    program: &Native,
    event: &Event,
    out: &mut dyn FnMut(Value),
) -> Result<(), String> {
    with_input(program, event, |expr, input| {
        let mut env = Env { vars: Vec::new() };
        eval(expr, input, &mut env, &mut |v| {
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
    with_input(program, event, |expr, input| {
        if let Some(result) = truth(expr, input) {
            first = Some(result?);
            return Ok(());
        }
        let mut env = Env { vars: Vec::new() };
        eval(expr, input, &mut env, &mut |v| {
            first = Some(truthy(&v));
            Ok(false)
        })
        .map(|_| ())
    })?;
    Ok(first.unwrap_or(false))
}

/// Whether the program reads `event` by scanning some of its keys from its text (see
/// `with_input`).
pub(crate) fn scans_keys(program: &Native, event: &Event) -> bool {
    event.raw().is_some() && program.slots.is_some()
}

/// Gives `f` the program and the event's value, or, for an unchanged event and a program that
/// reads only some top-level keys, the program reading slots and the values of just those keys
/// scanned from the original bytes.
fn with_input(
    program: &Native,
    event: &Event,
    f: impl FnOnce(&Expr, &Value) -> Result<(), Failure>,
) -> Result<(), String> {
    let picked = match (event.raw(), &program.slots) {
        (Some(raw), Some(slots)) => slots.pick(raw).map(|values| (&slots.expr, values)),
        _ => None,
    };
    let result = match picked {
        Some((expr, values)) => f(expr, &values),
        None => f(&program.expr, event.value()),
    };
    result.map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests;

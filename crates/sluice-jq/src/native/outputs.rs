//! Gathering an expression's outputs, all of them or the first, with the evaluator handed in:
//! the builtins, which sit below the evaluator, call back into it this way.

use serde_json::Value;

use super::expr::{Env, Expr, Failure, Out};

/// The evaluator: calls `out` with each output of an expression on an input, until `out`
/// says stop (returns `false`).
pub(super) type Eval =
    for<'e, 'o> fn(&'e Expr, &Value, &mut Env<'e>, Out<'o>) -> Result<bool, Failure>;

/// Every output of `e` on `input`.
pub(super) fn collect<'e>(
    eval: Eval,
    e: &'e Expr,
    input: &Value,
    env: &mut Env<'e>,
) -> Result<Vec<Value>, Failure> {
    let mut values = Vec::new();
    eval(e, input, env, &mut |v| {
        values.push(v);
        Ok(true)
    })?;
    Ok(values)
}

/// The first output of `e` on `input`, if any.
pub(super) fn first<'e>(
    eval: Eval,
    e: &'e Expr,
    input: &Value,
    env: &mut Env<'e>,
) -> Result<Option<Value>, Failure> {
    let mut found = None;
    eval(e, input, env, &mut |v| {
        found = Some(v);
        Ok(false)
    })?;
    Ok(found)
}

//! Evaluation: every expression yields zero or more values to a callback that may stop early;
//! fast paths compute conditions and single values by reference, and an input the program
//! owns is changed in place.

use serde_json::{Map, Value};

use super::builtins::call;
use super::expr::{Builtin, Env, Expr, Failure, ObjKey, Out, Piece, Step, fail};
use super::outputs::{collect, first};
use super::paths::{delete_path, get_path, path_of, set_path, take_path};
use super::value::{compare, describe, holds, index, math, number, truthy};

pub(super) static NULL: Value = Value::Null;

/// The single value of `e` on `input`, borrowed where it can be, for the common cases (literals,
/// `.`, paths of fixed keys and indices); `None` means "use the general evaluator" (which also
/// produces the errors).
pub(super) fn single<'a>(e: &'a Expr, input: &'a Value) -> Option<std::borrow::Cow<'a, Value>> {
    use std::borrow::Cow;
    match e {
        Expr::Literal(v) | Expr::Pattern(v, _) => Some(Cow::Borrowed(v)),
        Expr::Identity => Some(Cow::Borrowed(input)),
        Expr::Path(base, steps) => {
            let Cow::Borrowed(mut current) = single(base, input)? else {
                return None;
            };
            for (step, _) in steps {
                current = match (step, current) {
                    (Step::Key(k), Value::Object(m)) => m.get(k).unwrap_or(&NULL),
                    (Step::Key(_) | Step::Index(_), Value::Null) => &NULL,
                    (Step::Index(i), Value::Array(a)) => {
                        let i = if *i < 0 { a.len() as i64 + i } else { *i };
                        usize::try_from(i)
                            .ok()
                            .and_then(|i| a.get(i))
                            .unwrap_or(&NULL)
                    }
                    _ => return None,
                };
            }
            Some(Cow::Borrowed(current))
        }
        _ => None,
    }
}

/// Whether `e` yields exactly one value whatever its input (or fails): then nothing of it is
/// left unevaluated when its first value is taken, and an assignment may change its input in
/// place. `false` when unsure.
pub(super) fn exactly_one(e: &Expr) -> bool {
    match e {
        Expr::Literal(_) | Expr::Pattern(..) | Expr::Identity | Expr::Var(_) | Expr::Array(_) => {
            true
        }
        Expr::Path(base, steps) => {
            exactly_one(base)
                && steps
                    .iter()
                    .all(|(s, optional)| !optional && matches!(s, Step::Key(_) | Step::Index(_)))
        }
        Expr::Str(pieces) => pieces.iter().all(|p| match p {
            Piece::Text(_) => true,
            Piece::Interp(e) => exactly_one(e),
        }),
        Expr::Object(entries) => entries
            .iter()
            .all(|(k, v)| !matches!(k, ObjKey::Dynamic(_)) && v.as_ref().is_none_or(exactly_one)),
        Expr::Neg(x) => exactly_one(x),
        Expr::Or(l, r) | Expr::And(l, r) | Expr::Math(_, l, r) | Expr::Cmp(_, l, r) => {
            exactly_one(l) && exactly_one(r)
        }
        Expr::If(branches, otherwise) => {
            branches
                .iter()
                .all(|(c, t)| exactly_one(c) && exactly_one(t))
                && otherwise.as_deref().is_none_or(exactly_one)
        }
        _ => false,
    }
}

/// The truth of a condition built from `and`, `or`, comparisons and single values, without
/// making any value; `None` when the general evaluator is needed.
pub(super) fn truth(e: &Expr, input: &Value) -> Option<Result<bool, Failure>> {
    match e {
        Expr::Or(l, r) => match truth(l, input)? {
            Ok(true) => Some(Ok(true)),
            Ok(false) => truth(r, input),
            Err(e) => Some(Err(e)),
        },
        Expr::And(l, r) => match truth(l, input)? {
            Ok(false) => Some(Ok(false)),
            Ok(true) => truth(r, input),
            Err(e) => Some(Err(e)),
        },
        Expr::Cmp(op, l, r) => {
            let (a, b) = (single(l, input)?, single(r, input)?);
            let o = compare(&a, &b);
            Some(Ok(holds(*op, o)))
        }
        Expr::Call(Builtin::Not, _) => None,
        other => single(other, input).map(|v| Ok(truthy(&v))),
    }
}

/// Like `eval`, on an input it owns: assignments, updates and deletions change it in place.
pub(super) fn eval_owned<'e>(
    e: &'e Expr,
    mut input: Value,
    env: &mut Env<'e>,
    out: Out<'_>,
) -> Result<bool, Failure> {
    match e {
        Expr::Identity => out(input),
        Expr::Pipe(l, None, r) => {
            let vars = env.vars.clone();
            eval_owned(l, input, env, &mut |v| {
                eval_owned(r, v, &mut Env { vars: vars.clone() }, out)
            })
        }
        // With one value on the right, the input changes in place; otherwise each value
        // makes a copy, as it comes.
        Expr::Assign(path, rhs) if exactly_one(rhs) => match first(eval, rhs, &input, env)? {
            Some(value) => {
                set_path(&mut input, path, value)?;
                out(input)
            }
            None => Ok(true),
        },
        Expr::UpdateMath(op, path, rhs) if exactly_one(rhs) => {
            match first(eval, rhs, &input, env)? {
                Some(value) => {
                    let current = take_path(&mut input, path);
                    set_path(&mut input, path, math(*op, current, value)?)?;
                    out(input)
                }
                None => Ok(true),
            }
        }
        Expr::Update(path, f) => {
            let current = take_path(&mut input, path);
            match first(eval, f, &current, env)? {
                Some(v) => set_path(&mut input, path, v)?,
                None => delete_path(&mut input, path),
            }
            out(input)
        }
        Expr::Call(Builtin::Del, args) => match args.first().and_then(path_of) {
            Some(path) => {
                delete_path(&mut input, &path);
                out(input)
            }
            None => eval(e, &input, env, out),
        },
        _ => eval(e, &input, env, out),
    }
}

pub(super) fn eval<'e>(
    e: &'e Expr,
    input: &Value,
    env: &mut Env<'e>,
    out: Out<'_>,
) -> Result<bool, Failure> {
    match e {
        Expr::Identity => out(input.clone()),
        Expr::Literal(v) | Expr::Pattern(v, _) => out(v.clone()),
        Expr::Path(base, steps) => {
            // A path of fixed steps is walked by reference: only what it reaches is copied.
            if let Some(value) = single(e, input) {
                return out(value.into_owned());
            }
            let vars = env.vars.clone();
            eval(base, input, env, &mut |v| {
                walk(v, steps, Env { vars: vars.clone() }, out)
            })
        }
        Expr::Str(pieces) => strings(pieces, pieces.len(), String::new(), input, env, out),
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
        Expr::Object(entries) => match fixed_object(entries, input) {
            Some(object) => out(object),
            None => object(entries, 0, Map::new(), input, env, out),
        },
        Expr::Neg(inner) => eval(inner, input, env, &mut |v| match v.as_f64() {
            Some(f) => out(number(-f)),
            None => fail(format!("{} cannot be negated", describe(&v))),
        }),
        // Each output of the left side goes through the right side as it comes, so a consumer
        // that stops early never makes the left side run further.
        Expr::Pipe(l, None, r) => {
            let vars = env.vars.clone();
            eval(l, input, env, &mut |v| {
                eval(r, &v, &mut Env { vars: vars.clone() }, out)
            })
        }
        Expr::Pipe(l, Some(name), r) => {
            let vars = env.vars.clone();
            eval(l, input, env, &mut |v| {
                let mut env = Env { vars: vars.clone() };
                env.vars.push((name.as_str(), v));
                eval(r, input, &mut env, out)
            })
        }
        Expr::Comma(l, r) => Ok(eval(l, input, env, out)? && eval(r, input, env, out)?),
        // The left side's truthy outputs as they come; the right side only if there were none.
        // An error on the left is an error, as in jq 1.6 and jaq.
        Expr::Alt(l, r) => {
            let mut found = false;
            let go = eval(l, input, env, &mut |v| {
                if truthy(&v) {
                    found = true;
                    out(v)
                } else {
                    Ok(true)
                }
            })?;
            if !go || found {
                return Ok(go);
            }
            eval(r, input, env, out)
        }
        Expr::Or(l, r) | Expr::And(l, r) => {
            let is_or = matches!(e, Expr::Or(..));
            let vars = env.vars.clone();
            eval(l, input, env, &mut |a| {
                if truthy(&a) == is_or {
                    return out(Value::Bool(is_or));
                }
                let mut env = Env { vars: vars.clone() };
                eval(r, input, &mut env, &mut |b| out(Value::Bool(truthy(&b))))
            })
        }
        // As in jq, the right side runs first and the left side once per output of it, each
        // output as it comes: nothing is evaluated that a consumer which stops early would not
        // reach.
        Expr::Math(op, l, r) => {
            let vars = env.vars.clone();
            eval(r, input, env, &mut |b| {
                let mut env = Env { vars: vars.clone() };
                eval(l, input, &mut env, &mut |a| out(math(*op, a, b.clone())?))
            })
        }
        Expr::Cmp(op, l, r) => {
            if let (Some(a), Some(b)) = (single(l, input), single(r, input)) {
                return out(Value::Bool(holds(*op, compare(&a, &b))));
            }
            let vars = env.vars.clone();
            eval(r, input, env, &mut |b| {
                let mut env = Env { vars: vars.clone() };
                eval(l, input, &mut env, &mut |a| {
                    out(Value::Bool(holds(*op, compare(&a, &b))))
                })
            })
        }
        Expr::Assign(path, rhs) => eval(rhs, input, env, &mut |v| {
            let mut copy = input.clone();
            set_path(&mut copy, path, v)?;
            out(copy)
        }),
        Expr::Update(path, f) => {
            let mut copy = input.clone();
            let current = get_path(&copy, path);
            match first(eval, f, &current, env)? {
                Some(v) => set_path(&mut copy, path, v)?,
                None => delete_path(&mut copy, path),
            }
            out(copy)
        }
        Expr::UpdateMath(op, path, rhs) => eval(rhs, input, env, &mut |v| {
            let mut copy = input.clone();
            let current = get_path(&copy, path);
            set_path(&mut copy, path, math(*op, current, v)?)?;
            out(copy)
        }),
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
        Expr::Call(b, args) => call(eval, *b, args, input, env, out),
    }
}

pub(super) fn walk<'e>(
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
            let keys = collect(eval, e, &v, &mut env)?;
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

/// The outputs of an interpolated string, built from its last piece to its first: as in jq, a
/// later interpolation varies slower than an earlier one.
pub(super) fn strings<'e>(
    pieces: &'e [Piece],
    end: usize,
    suffix: String,
    input: &Value,
    env: &mut Env<'e>,
    out: Out<'_>,
) -> Result<bool, Failure> {
    let Some(i) = end.checked_sub(1) else {
        return out(Value::String(suffix));
    };
    match &pieces[i] {
        Piece::Text(t) => strings(pieces, i, format!("{t}{suffix}"), input, env, out),
        Piece::Interp(e) => {
            let vars = env.vars.clone();
            eval(e, input, env, &mut |v| {
                let text = match v {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                let mut env = Env { vars: vars.clone() };
                strings(pieces, i, text + &suffix, input, &mut env, out)
            })
        }
    }
}

/// An object of fixed keys, each with a single value (`{ts, latency: .latency_ms, n: 1}`), built
/// in one pass; `None` when an entry needs the general builder (which also makes the errors).
fn fixed_object(entries: &[(ObjKey, Option<Expr>)], input: &Value) -> Option<Value> {
    let mut object = Map::with_capacity(entries.len());
    for (key, value) in entries {
        let ObjKey::Static(k) = key else {
            return None;
        };
        let v = match (value, input) {
            (Some(e), _) => single(e, input)?.into_owned(),
            (None, Value::Object(m)) => m.get(k).cloned().unwrap_or(Value::Null),
            (None, Value::Null) => Value::Null,
            (None, _) => return None,
        };
        object.insert(k.clone(), v);
    }
    Some(Value::Object(object))
}

/// The outputs of an object construction: each key, then its value, once per output of the
/// entries before it.
pub(super) fn object<'e>(
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
    let vars = env.vars.clone();
    let mut with_key = |k: Value, env: &mut Env<'e>| -> Result<bool, Failure> {
        let Value::String(k) = k else {
            return fail(format!("object keys must be strings, not {}", describe(&k)));
        };
        let mut entry = |v: Value| {
            let mut next = acc.clone();
            next.insert(k.clone(), v);
            object(
                entries,
                i + 1,
                next,
                input,
                &mut Env { vars: vars.clone() },
                out,
            )
        };
        match (value, key) {
            (Some(e), _) => eval(e, input, env, &mut entry),
            (None, ObjKey::Var(name)) => entry(env.get(name)?),
            (None, _) => {
                entry(index(input, &Value::String(k.clone()), false)?.unwrap_or(Value::Null))
            }
        }
    };
    match key {
        ObjKey::Static(k) => with_key(Value::String(k.clone()), env),
        ObjKey::Var(name) => with_key(Value::String(name.trim_start_matches('$').to_owned()), env),
        ObjKey::Dynamic(e) => {
            let vars = env.vars.clone();
            eval(e, input, env, &mut |k| {
                with_key(k, &mut Env { vars: vars.clone() })
            })
        }
    }
}

pub(super) fn if_branches<'e>(
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
    // Each output of the condition picks a branch as it comes, so a consumer that stops early
    // (`first`, `|=`) never sees a later output fail.
    let vars = env.vars.clone();
    eval(cond, input, env, &mut |c| {
        let mut env = Env { vars: vars.clone() };
        if truthy(&c) {
            eval(then, input, &mut env, out)
        } else {
            if_branches(rest, otherwise, input, &mut env, out)
        }
    })
}

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
        Expr::Literal(v) => Some(Cow::Borrowed(v)),
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
            let mut values = Vec::new();
            eval_owned(l, input, env, &mut |v| {
                values.push(v);
                Ok(true)
            })?;
            for v in values {
                if !eval_owned(r, v, env, out)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Expr::Assign(path, rhs) => {
            let mut values = collect(eval, rhs, &input, env)?;
            if values.len() == 1 {
                set_path(&mut input, path, values.remove(0))?;
                return out(input);
            }
            eval(e, &input, env, out)
        }
        Expr::UpdateMath(op, path, rhs) => {
            let mut values = collect(eval, rhs, &input, env)?;
            if values.len() == 1 {
                let current = take_path(&mut input, path);
                set_path(&mut input, path, math(*op, current, values.remove(0))?)?;
                return out(input);
            }
            eval(e, &input, env, out)
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
        Expr::Literal(v) => out(v.clone()),
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
            let lefts = collect(eval, l, input, env)?;
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
            let rights = collect(eval, r, input, env)?;
            let lefts = collect(eval, l, input, env)?;
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
            if let (Some(a), Some(b)) = (single(l, input), single(r, input)) {
                return out(Value::Bool(holds(*op, compare(&a, &b))));
            }
            let rights = collect(eval, r, input, env)?;
            let lefts = collect(eval, l, input, env)?;
            for b in &rights {
                for a in &lefts {
                    let o = compare(a, b);
                    let hit = holds(*op, o);
                    if !out(Value::Bool(hit))? {
                        return Ok(false);
                    }
                }
            }
            Ok(true)
        }
        Expr::Assign(path, rhs) => {
            for v in collect(eval, rhs, input, env)? {
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
            match collect(eval, f, &current, env)?.into_iter().next() {
                Some(v) => set_path(&mut copy, path, v)?,
                None => delete_path(&mut copy, path),
            }
            out(copy)
        }
        Expr::UpdateMath(op, path, rhs) => {
            for v in collect(eval, rhs, input, env)? {
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

pub(super) fn strings<'e>(
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
            for v in collect(eval, e, input, env)? {
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
    let keys = match key {
        ObjKey::Static(k) => vec![Value::String(k.clone())],
        ObjKey::Var(name) => vec![Value::String(name.trim_start_matches('$').to_owned())],
        ObjKey::Dynamic(e) => collect(eval, e, input, env)?,
    };
    for k in keys {
        let Value::String(k) = k else {
            return fail(format!("object keys must be strings, not {}", describe(&k)));
        };
        let values = match (value, key) {
            (Some(e), _) => collect(eval, e, input, env)?,
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
    for c in collect(eval, cond, input, env)? {
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

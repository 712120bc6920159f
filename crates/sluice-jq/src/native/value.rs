//! jq's rules for values: numbers, ordering, arithmetic, indexing, and how values are named in
//! messages.

use std::cmp::Ordering;

use jaq_core::ops::{Cmp, Math};
use serde_json::{Map, Number, Value};

use super::expr::{Failure, fail};

/// A number as jq writes it: an integer when it is one, the largest float for an infinity,
/// `null` for not a number.
pub fn number(f: f64) -> Value {
    // JSON has no infinity: jq writes it as the largest number, and so does this.
    let f = if f.is_infinite() {
        f.signum() * f64::MAX
    } else {
        f
    };
    if f.fract() == 0.0 && f.abs() < 9.0e15 {
        Value::from(f as i64)
    } else {
        Number::from_f64(f).map_or(Value::Null, Value::Number)
    }
}

pub(super) fn as_f64(v: &Value) -> Option<f64> {
    v.as_f64()
}

pub(super) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

pub(super) fn describe(v: &Value) -> String {
    let text = v.to_string();
    let short: String = text.chars().take(40).collect();
    format!(
        "{} ({short}{})",
        type_name(v),
        if text.len() > short.len() { "…" } else { "" }
    )
}

/// jq's order: null < false < true < numbers < strings < arrays < objects.
pub(super) fn compare(a: &Value, b: &Value) -> Ordering {
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

pub(super) fn math(op: Math, a: Value, b: Value) -> Result<Value, Failure> {
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
            if op == Math::Div && q == 0.0 {
                return fail(format!(
                    "{p} and {q} cannot be divided because the divisor is zero"
                ));
            }
            number(match op {
                Math::Add => p + q,
                Math::Sub => p - q,
                Math::Mul => p * q,
                Math::Div => p / q,
                Math::Rem => {
                    // As jq 1.6: both sides cut to whole numbers first, by C's cast, which on
                    // x86-64 makes a number out of a 64-bit integer's range its least value.
                    let cut = |v: f64| {
                        let limit = 2f64.powi(63);
                        if (-limit..limit).contains(&v) {
                            v as i64
                        } else {
                            i64::MIN
                        }
                    };
                    let (i, j) = (cut(p), cut(q));
                    if j == 0 {
                        return fail(format!(
                            "{p} and {q} cannot be divided because the divisor is zero"
                        ));
                    }
                    i.wrapping_rem(j) as f64
                }
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
        // A string times n is n copies of it (at least one), `null` for n <= 0; as in jq.
        (Math::Mul, S(x), Value::Number(n)) | (Math::Mul, Value::Number(n), S(x)) => {
            let n = n.as_f64().unwrap_or(0.0);
            let copies = (n as usize).max(1);
            if n <= 0.0 {
                Value::Null
            } else if x.len().saturating_mul(copies) > crate::cost::MAX_STRING {
                return fail(format!(
                    "a string of {} bytes repeated {copies} times is over the {} MiB a value may have",
                    x.len(),
                    crate::cost::MAX_STRING >> 20
                ));
            } else {
                S(x.repeat(copies))
            }
        }
        (Math::Div, S(x), S(y)) => split(&x, &y),
        (Math::Mul, Object(x), Object(y)) => Object(merge_deep(x, y)),
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

pub(super) fn index(v: &Value, step: &Value, optional: bool) -> Result<Option<Value>, Failure> {
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

/// Whether a comparison holds for two values ordered as `o`.
pub(super) fn holds(op: Cmp, o: Ordering) -> bool {
    match op {
        Cmp::Eq => o == Ordering::Equal,
        Cmp::Ne => o != Ordering::Equal,
        Cmp::Lt => o == Ordering::Less,
        Cmp::Le => o != Ordering::Greater,
        Cmp::Gt => o == Ordering::Greater,
        Cmp::Ge => o != Ordering::Less,
    }
}

/// jq's truth: everything but `false` and `null`.
pub(crate) fn truthy(v: &Value) -> bool {
    !matches!(v, Value::Null | Value::Bool(false))
}

/// `s` cut at each `sep`, as jq does: nothing from an empty string, each character for an empty
/// separator.
pub(super) fn split(s: &str, sep: &str) -> Value {
    let parts: Vec<Value> = if s.is_empty() {
        Vec::new()
    } else if sep.is_empty() {
        s.chars().map(|c| Value::String(c.to_string())).collect()
    } else {
        s.split(sep).map(|p| Value::String(p.to_owned())).collect()
    };
    Value::Array(parts)
}

/// `a * b` on objects: `b`'s entries over `a`'s, objects within merged the same way.
fn merge_deep(mut a: Map<String, Value>, b: Map<String, Value>) -> Map<String, Value> {
    for (k, v) in b {
        let merged = match (a.get_mut(&k), v) {
            (Some(Value::Object(x)), Value::Object(y)) => {
                Value::Object(merge_deep(std::mem::take(x), y))
            }
            (_, v) => v,
        };
        // An existing key keeps its place.
        a.insert(k, merged);
    }
    a
}

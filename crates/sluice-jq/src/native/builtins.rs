//! The functions the native evaluator knows (`length`, `test`, `map`, …).

use std::borrow::Cow;
use std::cmp::Ordering;

use jaq_core::ops::Math;
use regex::Regex;
use serde_json::{Map, Value};

use super::expr::{Builtin, Env, Expr, Failure, Out, fail};
use super::outputs::{Eval, collect, first};
use super::paths::{delete_path, path_of};
use super::value::{as_f64, compare, describe, math, number, split, truthy, type_name};

/// The regex a regex function's first argument gives: compiled once when it is a literal (see
/// `Expr::Pattern`), on each call otherwise.
fn regex<'e>(
    eval: Eval,
    arg: &'e Expr,
    input: &Value,
    env: &mut Env<'e>,
) -> Result<Cow<'e, Regex>, Failure> {
    if let Expr::Pattern(_, re) = arg {
        return Ok(Cow::Borrowed(re));
    }
    match first(eval, arg, input, env)?.unwrap_or(Value::Null) {
        Value::String(p) => Regex::new(&p)
            .map(Cow::Owned)
            .map_err(|e| Failure(Value::String(format!("{p} is not a valid regex: {e}")))),
        other => fail(format!(
            "{} cannot be matched, as it is not a string",
            describe(&other)
        )),
    }
}

pub(super) fn string_arg<'e>(
    eval: Eval,
    args: &'e [Expr],
    i: usize,
    input: &Value,
    env: &mut Env<'e>,
) -> Result<String, Failure> {
    match args
        .get(i)
        .map(|a| first(eval, a, input, env))
        .transpose()?
        .flatten()
    {
        Some(Value::String(s)) => Ok(s),
        Some(other) => fail(format!("{} is not a string", describe(&other))),
        None => fail("missing argument"),
    }
}

pub(super) fn call<'e>(
    eval: Eval,
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
            let key = first(eval, &args[0], input, env)?.unwrap_or(Value::Null);
            match (input, &key) {
                (Value::Object(m), Value::String(k)) => Value::Bool(m.contains_key(k)),
                (Value::Null, _) => Value::Bool(false),
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
            return eval(&args[0], input, env, &mut |c| {
                if truthy(&c) {
                    out(input.clone())
                } else {
                    Ok(true)
                }
            });
        }
        B::Empty => return Ok(true),
        B::Error0 => return Err(Failure(input.clone())),
        B::Error1 => {
            return Err(Failure(
                first(eval, &args[0], input, env)?.unwrap_or(Value::Null),
            ));
        }
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
            let affix = first(eval, &args[0], input, env)?.unwrap_or(Value::Null);
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
            let affix = string_arg(eval, args, 0, input, env)?;
            Value::Bool(if b == B::StartsWith {
                s.starts_with(&affix)
            } else {
                s.ends_with(&affix)
            })
        }
        B::Contains => {
            let needle = first(eval, &args[0], input, env)?.unwrap_or(Value::Null);
            Value::Bool(contains(input, &needle)?)
        }
        B::Split => {
            let s = text(input)?;
            let sep = string_arg(eval, args, 0, input, env)?;
            split(&s, &sep)
        }
        B::Join => {
            let sep = string_arg(eval, args, 0, input, env)?;
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
            let re = regex(eval, &args[0], input, env)?;
            Value::Bool(re.is_match(&text(input)?))
        }
        B::Sub | B::Gsub => {
            let re = regex(eval, &args[0], input, env)?;
            let with = string_arg(eval, args, 1, input, env)?;
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
        B::Any | B::All if input.is_object() => {
            let mut values = input.as_object().into_iter().flat_map(|m| m.values());
            Value::Bool(if b == B::Any {
                values.any(truthy)
            } else {
                values.all(truthy)
            })
        }
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
                mapped.extend(collect(eval, &args[0], item, env)?);
            }
            Value::Array(mapped)
        }
        B::MapValues => match input {
            Value::Array(a) => {
                let mut mapped = Vec::new();
                for item in a {
                    if let Some(v) = first(eval, &args[0], item, env)? {
                        mapped.push(v);
                    }
                }
                Value::Array(mapped)
            }
            Value::Object(m) => {
                let mut mapped = Map::new();
                for (k, item) in m {
                    if let Some(v) = first(eval, &args[0], item, env)? {
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
            Value::Array(a) => Value::Array(
                a.iter()
                    .enumerate()
                    .map(|(i, v)| serde_json::json!({"key": i, "value": v}))
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

pub(super) fn contains(a: &Value, b: &Value) -> Result<bool, Failure> {
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

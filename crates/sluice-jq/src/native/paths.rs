//! Paths into a value (`.a.b[0]`): reading, setting and deleting what they lead to, and the
//! path an expression names, if it names one.

use serde_json::{Map, Value};

use super::expr::{Expr, Failure, Key, Step, fail};
use super::value::type_name;

/// Moves the value at `path` out of `v` (leaving `null`), or `null` if there is none.
pub(super) fn take_path(v: &mut Value, path: &[Key]) -> Value {
    let mut current = v;
    for key in path {
        let next = match (current, key) {
            (Value::Object(m), Key::Field(k)) => m.get_mut(k),
            (Value::Array(a), Key::Index(i)) => {
                let i = if *i < 0 { a.len() as i64 + i } else { *i };
                usize::try_from(i).ok().and_then(|i| a.get_mut(i))
            }
            _ => None,
        };
        match next {
            Some(n) => current = n,
            None => return Value::Null,
        }
    }
    std::mem::take(current)
}

pub(super) fn get_path(v: &Value, path: &[Key]) -> Value {
    let mut cur = v;
    for key in path {
        let next = match (cur, key) {
            (Value::Object(m), Key::Field(k)) => m.get(k),
            (Value::Array(a), Key::Index(i)) => {
                let i = if *i < 0 { a.len() as i64 + i } else { *i };
                usize::try_from(i).ok().and_then(|i| a.get(i))
            }
            _ => None,
        };
        match next {
            Some(n) => cur = n,
            None => return Value::Null,
        }
    }
    cur.clone()
}

pub(super) fn set_path(v: &mut Value, path: &[Key], new: Value) -> Result<(), Failure> {
    let Some((key, rest)) = path.split_first() else {
        *v = new;
        return Ok(());
    };
    if v.is_null() {
        *v = match key {
            Key::Field(_) => Value::Object(Map::new()),
            Key::Index(_) => Value::Array(Vec::new()),
        };
    }
    match (v, key) {
        (Value::Object(m), Key::Field(k)) => {
            set_path(m.entry(k.clone()).or_insert(Value::Null), rest, new)
        }
        (Value::Array(a), Key::Index(i)) => {
            let i = if *i < 0 { a.len() as i64 + i } else { *i };
            let Ok(i) = usize::try_from(i) else {
                return fail("out of bounds negative array index");
            };
            if a.len() <= i {
                a.resize(i + 1, Value::Null);
            }
            set_path(&mut a[i], rest, new)
        }
        (v, key) => fail(format!(
            "cannot index {} with {}",
            type_name(v),
            match key {
                Key::Field(k) => format!("\"{k}\""),
                Key::Index(i) => i.to_string(),
            }
        )),
    }
}

pub(super) fn delete_path(v: &mut Value, path: &[Key]) {
    let Some((key, rest)) = path.split_first() else {
        *v = Value::Null;
        return;
    };
    match (v, key) {
        (Value::Object(m), Key::Field(k)) if rest.is_empty() => {
            m.shift_remove(k);
        }
        (Value::Object(m), Key::Field(k)) => {
            if let Some(child) = m.get_mut(k) {
                delete_path(child, rest);
            }
        }
        (Value::Array(a), Key::Index(i)) => {
            let i = if *i < 0 { a.len() as i64 + i } else { *i };
            if let Ok(i) = usize::try_from(i)
                && i < a.len()
            {
                if rest.is_empty() {
                    a.remove(i);
                } else {
                    delete_path(&mut a[i], rest);
                }
            }
        }
        _ => {}
    }
}

pub(super) fn path_of(e: &Expr) -> Option<Vec<Key>> {
    match e {
        Expr::Identity => Some(Vec::new()),
        Expr::Path(base, steps) => {
            let mut keys = path_of(base)?;
            for (step, optional) in steps {
                if *optional {
                    return None;
                }
                keys.push(match step {
                    Step::Key(k) => Key::Field(k.clone()),
                    Step::Index(i) => Key::Index(*i),
                    _ => return None,
                });
            }
            Some(keys)
        }
        _ => None,
    }
}

//! The general jq engine: programs the native evaluator does not cover run on `jaq`.
//!
//! An event crosses into jaq's value type by its JSON text (the original bytes when the event
//! is unchanged) and back the same way: slower than the native path, but every jq program that
//! jaq supports works, within its [cost limit](crate::cost).

use jaq_core::load::{Arena, File, Loader};
use jaq_core::{Compiler, Ctx, Vars, data, unwrap_valr};
use jaq_json::{Num, Val};
use serde_json::Value;
use sluice_event::Event;

use crate::cost;
use crate::error::JqError;
use crate::native::number;

type Filter = jaq_core::compile::Filter<jaq_core::Native<data::JustLut<Val>>>;

/// A program compiled by jaq.
pub(super) struct JaqProgram {
    filter: Filter,
    env: Val,
}

impl JaqProgram {
    /// Compiles `code`, reporting its problems; what runs is `code` with the steps of its
    /// definitions counted.
    pub(super) fn compile(code: &str) -> Result<JaqProgram, JqError> {
        let program = JaqProgram::compile_exactly(code)?;
        Ok(cost::counted_source(code)
            .and_then(|counted| JaqProgram::compile_exactly(&counted).ok())
            .unwrap_or(program))
    }

    fn compile_exactly(code: &str) -> Result<JaqProgram, JqError> {
        let defs = jaq_core::defs()
            .chain(jaq_std::defs())
            .chain(jaq_json::defs())
            .map(cost::counted);
        let funs = jaq_core::funs()
            .chain(jaq_std::funs())
            .chain(jaq_json::funs())
            .filter(|(name, arity, _)| !(*name == "range" && arity.len() == 3))
            .chain(cost::natives());
        let loader = Loader::new(defs);
        let arena = Arena::default();
        let offset = |s: &str| {
            let start = code.as_ptr() as usize;
            let at = s.as_ptr() as usize;
            if at >= start && at <= start + code.len() {
                at - start
            } else {
                0
            }
        };
        let modules = loader
            .load(&arena, File { code, path: () })
            .map_err(|errs| {
                let first = errs.into_iter().next().map(|(_, e)| e);
                match first {
                    Some(jaq_core::load::Error::Lex(errs)) => match errs.first() {
                        Some((expect, found)) => {
                            JqError::new(format!("expected {}", expect.as_str()), offset(found))
                        }
                        None => JqError::new("cannot read the program".to_owned(), 0),
                    },
                    Some(jaq_core::load::Error::Parse(errs)) => match errs.first() {
                        Some((expect, found)) => {
                            let what = if found.is_empty() {
                                "the end".to_owned()
                            } else {
                                format!("`{found}`")
                            };
                            JqError::new(
                                format!("expected {}, found {what}", expect.as_str()),
                                offset(found),
                            )
                        }
                        None => JqError::new("cannot parse the program".to_owned(), 0),
                    },
                    Some(jaq_core::load::Error::Io(errs)) => JqError::new(
                        errs.first()
                            .map_or_else(|| "cannot load a module".to_owned(), |(_, e)| e.clone()),
                        0,
                    ),
                    None => JqError::new("cannot load the program".to_owned(), 0),
                }
            })?;
        let filter = Compiler::default()
            .with_funs(funs)
            .with_global_vars(["$ENV"])
            .compile(modules)
            .map_err(|errs| {
                let first = errs
                    .into_iter()
                    .next()
                    .and_then(|(_, e)| e.into_iter().next());
                match first {
                    Some((name, undefined)) => JqError::new(
                        format!("undefined {} `{name}`", undefined.as_str()),
                        offset(name),
                    ),
                    None => JqError::new("cannot compile the program".to_owned(), 0),
                }
            })?;
        let env: serde_json::Map<String, Value> = std::env::vars()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        let env = to_val(&Value::Object(env))?;
        Ok(JaqProgram { filter, env })
    }

    /// Runs the program on `event`, calling `out` with each output until it returns false.
    pub(super) fn run(
        &self,
        event: &Event,
        out: &mut dyn FnMut(Value) -> bool,
    ) -> Result<(), String> {
        let input = match event.raw() {
            Some(raw) => jaq_json::read::parse_single(raw).map_err(|e| e.to_string())?,
            None => to_val(event.value()).map_err(|e| e.message)?,
        };
        cost::refuel();
        let ctx = Ctx::<data::JustLut<Val>>::new(&self.filter.lut, Vars::new([self.env.clone()]));
        for result in self.filter.id.run((ctx, input)).map(unwrap_valr) {
            let val = result.map_err(|e| e.to_string())?;
            if !out(to_json(&val)) {
                break;
            }
        }
        Ok(())
    }
}

fn to_val(value: &Value) -> Result<Val, JqError> {
    let text = value.to_string();
    jaq_json::read::parse_single(text.as_bytes()).map_err(|e| JqError::new(e.to_string(), 0))
}

/// A jaq value as JSON, as jq prints it: a whole number as an integer, `NaN` as `null`, the
/// infinities as the largest finite numbers, a byte string as text.
fn to_json(val: &Val) -> Value {
    match val {
        Val::Null => Value::Null,
        Val::Bool(b) => Value::Bool(*b),
        Val::Num(Num::Int(i)) => Value::from(*i as i64),
        Val::Num(Num::Float(f)) => finite(*f),
        Val::Num(n) => serde_json::from_str(&n.to_string())
            .ok()
            .and_then(|v: Value| v.as_f64())
            .map_or(Value::Null, finite),
        Val::TStr(b) | Val::BStr(b) => Value::String(String::from_utf8_lossy(b).into_owned()),
        Val::Arr(items) => Value::Array(items.iter().map(to_json).collect()),
        Val::Obj(entries) => Value::Object(
            entries
                .iter()
                .map(|(k, v)| {
                    let key = match to_json(k) {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (key, to_json(v))
                })
                .collect(),
        ),
    }
}

fn finite(f: f64) -> Value {
    if f.is_nan() {
        Value::Null
    } else {
        number(f.clamp(f64::MIN, f64::MAX))
    }
}

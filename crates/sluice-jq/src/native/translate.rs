//! Translating a program parsed by jaq into the native evaluator's expressions, term by term;
//! a term outside the native subset makes the whole translation `None`.

use jaq_core::load::lex::StrPart;
use jaq_core::load::parse::{BinaryOp, Pattern, Term};

use jaq_core::path::{Opt, Part};
use regex::Regex;
use serde_json::Value;

use super::expr::{Builtin, Expr, Key, ObjKey, Piece, Step};
use super::value::number;

fn builtin(name: &str, arity: usize) -> Option<Builtin> {
    use Builtin as B;
    Some(match (name, arity) {
        ("not", 0) => B::Not,
        ("length", 0) => B::Length,
        ("keys", 0) => B::Keys,
        ("has", 1) => B::Has,
        ("del", 1) => B::Del,
        ("select", 1) => B::Select,
        ("empty", 0) => B::Empty,
        ("error", 0) => B::Error0,
        ("error", 1) => B::Error1,
        ("tostring", 0) => B::ToString,
        ("tonumber", 0) => B::ToNumber,
        ("tojson", 0) => B::ToJson,
        ("fromjson", 0) => B::FromJson,
        ("ascii_downcase", 0) => B::Downcase,
        ("ascii_upcase", 0) => B::Upcase,
        ("ltrimstr", 1) => B::LTrimStr,
        ("rtrimstr", 1) => B::RTrimStr,
        ("startswith", 1) => B::StartsWith,
        ("endswith", 1) => B::EndsWith,
        ("contains", 1) => B::Contains,
        ("split", 1) => B::Split,
        ("join", 1) => B::Join,
        ("test", 1) => B::Test,
        ("sub", 2) => B::Sub,
        ("gsub", 2) => B::Gsub,
        ("type", 0) => B::Type,
        ("floor", 0) => B::Floor,
        ("ceil", 0) => B::Ceil,
        ("round", 0) => B::Round,
        ("sqrt", 0) => B::Sqrt,
        ("fabs" | "abs", 0) => B::Fabs,
        ("add", 0) => B::Add,
        ("min", 0) => B::Min,
        ("max", 0) => B::Max,
        ("map", 1) => B::Map,
        ("map_values", 1) => B::MapValues,
        ("to_entries", 0) => B::ToEntries,
        ("from_entries", 0) => B::FromEntries,
        ("any", 0) => B::Any,
        ("all", 0) => B::All,
        ("sort", 0) => B::Sort,
        ("unique", 0) => B::Unique,
        ("reverse", 0) => B::Reverse,
        ("trim", 0) => B::Trim,
        ("values", 0) => B::Values,
        ("now", 0) => B::Now,
        ("isnull", 0) => B::IsNull,
        _ => return None,
    })
}

fn boxed(t: &Term<&str>) -> Option<Box<Expr>> {
    translate(t).map(Box::new)
}

pub(super) fn translate(t: &Term<&str>) -> Option<Expr> {
    Some(match t {
        Term::Id => Expr::Identity,
        Term::Num(n) => Expr::Literal(number_literal(n)?),
        Term::Str(None, parts) => string(parts)?,
        Term::Arr(inner) => Expr::Array(match inner {
            Some(t) => Some(boxed(t)?),
            None => None,
        }),
        Term::Obj(entries) => Expr::Object(
            entries
                .iter()
                .map(|(k, v)| {
                    let key = match k {
                        Term::Str(None, parts) => match string(parts)? {
                            Expr::Literal(Value::String(s)) => ObjKey::Static(s),
                            other => ObjKey::Dynamic(other),
                        },
                        Term::Var(name) => ObjKey::Var(name.to_string()),
                        Term::Call(name, args) if args.is_empty() && !name.starts_with('$') => {
                            ObjKey::Static((*name).to_owned())
                        }
                        other => ObjKey::Dynamic(translate(other)?),
                    };
                    let value = match v {
                        Some(v) => Some(translate(v)?),
                        None => None,
                    };
                    Some((key, value))
                })
                .collect::<Option<_>>()?,
        ),
        Term::Neg(t) => Expr::Neg(boxed(t)?),
        Term::BinOp(l, op, r) => binop(l, op, r)?,
        Term::IfThenElse(branches, otherwise) => Expr::If(
            branches
                .iter()
                .map(|(c, t)| Some((translate(c)?, translate(t)?)))
                .collect::<Option<_>>()?,
            match otherwise {
                Some(e) => Some(boxed(e)?),
                None => None,
            },
        ),
        Term::TryCatch(body, catch) => Expr::Try(
            boxed(body)?,
            match catch {
                Some(c) => Some(boxed(c)?),
                None => None,
            },
        ),
        Term::Var(name) => Expr::Var(name.to_string()),
        Term::Call(name, args) => match (*name, args.len()) {
            ("true", 0) => Expr::Literal(Value::Bool(true)),
            ("false", 0) => Expr::Literal(Value::Bool(false)),
            ("null", 0) => Expr::Literal(Value::Null),
            _ => {
                let b = builtin(name, args.len())?;
                let mut args: Vec<Expr> = args.iter().map(translate).collect::<Option<_>>()?;
                if matches!(b, Builtin::Test | Builtin::Sub | Builtin::Gsub) {
                    compile_pattern(&mut args[0]);
                }
                Expr::Call(b, args)
            }
        },
        Term::Path(base, path) => {
            let steps = path
                .0
                .iter()
                .map(|(part, opt)| {
                    let optional = matches!(opt, Opt::Optional);
                    let step = match part {
                        Part::Index(Term::Str(None, parts)) => match string(parts)? {
                            Expr::Literal(Value::String(s)) => Step::Key(s),
                            other => Step::Dynamic(other),
                        },
                        Part::Index(Term::Num(n)) => match number_literal(n)? {
                            Value::Number(n) => Step::Index(n.as_i64()?),
                            _ => return None,
                        },
                        Part::Index(Term::Neg(inner)) => match &**inner {
                            Term::Num(n) => Step::Index(-number_literal(n)?.as_i64()?),
                            _ => return None,
                        },
                        Part::Index(other) => Step::Dynamic(translate(other)?),
                        Part::Range(None, None) => Step::Iterate,
                        Part::Range(..) => return None,
                    };
                    Some((step, optional))
                })
                .collect::<Option<Vec<_>>>()?;
            Expr::Path(boxed(base)?, steps)
        }
        _ => return None,
    })
}

fn number_literal(n: &str) -> Option<Value> {
    if let Ok(i) = n.parse::<i64>() {
        return Some(Value::from(i));
    }
    n.parse::<f64>().ok().map(number)
}

fn string(parts: &[StrPart<&str, Term<&str>>]) -> Option<Expr> {
    let mut pieces = Vec::new();
    for part in parts {
        match part {
            StrPart::Str(s) => pieces.push(Piece::Text((*s).to_owned())),
            StrPart::Char(c) => pieces.push(Piece::Text(c.to_string())),
            StrPart::Term(t) => pieces.push(Piece::Interp(translate(t)?)),
        }
    }
    if pieces.iter().all(|p| matches!(p, Piece::Text(_))) {
        let text: String = pieces
            .into_iter()
            .filter_map(|p| match p {
                Piece::Text(t) => Some(t),
                Piece::Interp(_) => None,
            })
            .collect();
        return Some(Expr::Literal(Value::String(text)));
    }
    Some(Expr::Str(pieces))
}

fn binop(l: &Term<&str>, op: &BinaryOp<&str>, r: &Term<&str>) -> Option<Expr> {
    Some(match op {
        BinaryOp::Pipe(None) => Expr::Pipe(boxed(l)?, None, boxed(r)?),
        BinaryOp::Pipe(Some(Pattern::Var(name))) => {
            Expr::Pipe(boxed(l)?, Some(name.to_string()), boxed(r)?)
        }
        BinaryOp::Comma => Expr::Comma(boxed(l)?, boxed(r)?),
        BinaryOp::Alt => Expr::Alt(boxed(l)?, boxed(r)?),
        BinaryOp::Or => Expr::Or(boxed(l)?, boxed(r)?),
        BinaryOp::And => Expr::And(boxed(l)?, boxed(r)?),
        BinaryOp::Math(m) => Expr::Math(*m, boxed(l)?, boxed(r)?),
        BinaryOp::Cmp(c) => Expr::Cmp(*c, boxed(l)?, boxed(r)?),
        BinaryOp::Assign => Expr::Assign(static_path(l)?, boxed(r)?),
        BinaryOp::Update => Expr::Update(static_path(l)?, boxed(r)?),
        BinaryOp::UpdateMath(m) => Expr::UpdateMath(*m, static_path(l)?, boxed(r)?),
        _ => return None,
    })
}

/// A path made only of fixed keys and indices from `.`, as the left side of an assignment.
fn static_path(t: &Term<&str>) -> Option<Vec<Key>> {
    match t {
        Term::Id => Some(Vec::new()),
        Term::Path(base, path) => {
            let mut keys = static_path(base)?;
            for (part, opt) in &path.0 {
                if matches!(opt, Opt::Optional) {
                    return None;
                }
                keys.push(match part {
                    Part::Index(Term::Str(None, parts)) => match string(parts)? {
                        Expr::Literal(Value::String(s)) => Key::Field(s),
                        _ => return None,
                    },
                    Part::Index(Term::Num(n)) => Key::Index(number_literal(n)?.as_i64()?),
                    _ => return None,
                });
            }
            Some(keys)
        }
        _ => None,
    }
}

/// Compiles a literal pattern once, here, rather than on every call; a pattern that does not
/// compile stays a literal, to fail when it runs, as in jq.
fn compile_pattern(arg: &mut Expr) {
    if let Expr::Literal(Value::String(p)) = arg
        && let Ok(re) = Regex::new(p)
    {
        let literal = Value::String(std::mem::take(p));
        *arg = Expr::Pattern(literal, Box::new(re));
    }
}

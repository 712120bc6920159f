//! The cost limit of the general engine: a program may take at most [`MAX_COST`] steps on one
//! event, so that a runaway (`until(.n == 0; .n - 1)` on a negative `n`, `[repeat(1)]`, a
//! recursive function that never ends) fails that event with the reason instead of holding its
//! stage, or the process's memory, for ever.
//!
//! A step is a call of a function defined in jq that calls itself (the standard library's loops
//! are such functions: `repeat`, `while`, `until`, `recurse`…; so may the program's own `def`s),
//! or a number that `range` yields. Those definitions get a call of the native `_tick` in front
//! of their body: the standard ones on their parsed form (those that call themselves only),
//! the program's own in its text, found with jaq's lexer (all of them). The same check bounds the stack an evaluation may use to
//! [`MAX_STACK`] bytes, so that recursion that does not end in a tail call (`def f: [f]; f`)
//! fails the event too, rather than overflowing the thread's stack, which would abort the
//! process. The native evaluator has no loops: its cost is bounded by the event, except for a
//! string repeated (`"ab" * 1e9`), which may not make one over [`MAX_STRING`] bytes.

use std::cell::Cell;
use std::cmp::Ordering;

use jaq_core::load::lex::{Lexer, Tok, Token};
use jaq_core::load::parse::{BinaryOp, Def, Term};
use jaq_core::native::{Fun, bome, v};
use jaq_core::{DataT, Error, Exn, Native};
use jaq_json::Val;

/// The most steps a program may take on one event.
pub const MAX_COST: u64 = 1_000_000;

/// The most stack an evaluation may use, in bytes (the threads that run stages have 2 MiB).
pub const MAX_STACK: usize = 512 * 1024;

/// The longest string the native evaluator makes by repetition, in bytes.
pub const MAX_STRING: usize = 64 * 1024 * 1024;

thread_local! {
    /// The steps the running evaluation may still take on this thread.
    static FUEL: Cell<u64> = const { Cell::new(MAX_COST) };
    /// Where the stack was when the running evaluation started on this thread.
    static STACK_BASE: Cell<usize> = const { Cell::new(0) };
}

/// Where the stack is now: the address of a local.
#[inline(never)]
fn stack_here() -> usize {
    let marker = 0_u8;
    std::hint::black_box(&raw const marker) as usize
}

/// Gives the evaluation about to start on this thread its whole budget.
pub(crate) fn refuel() {
    FUEL.with(|fuel| fuel.set(MAX_COST));
    STACK_BASE.with(|base| base.set(stack_here()));
}

/// Takes one step, or fails once the budget or the stack allowed is spent.
fn tick() -> Result<(), Error<Val>> {
    let depth = STACK_BASE.with(Cell::get).abs_diff(stack_here());
    if depth > MAX_STACK {
        return Err(Error::str(format!(
            "the program went past its stack limit of {} KiB on this event \
             (a recursion that does not end?)",
            MAX_STACK / 1024
        )));
    }
    FUEL.with(|fuel| match fuel.get() {
        0 => Err(Error::str(format!(
            "the program went past its cost limit of {MAX_COST} steps on this event \
             (a loop or recursion that does not end?)"
        ))),
        left => {
            fuel.set(left - 1);
            Ok(())
        }
    })
}

/// The natives that count steps: `_tick` (the input, after a step) and `range/3` (a step per
/// number), which takes the place of jaq's own.
pub(crate) fn natives<D>() -> impl Iterator<Item = Fun<D>>
where
    D: for<'a> DataT<V<'a> = Val>,
{
    let tick_fun: Fun<D> = ("_tick", v(0), Native::new(|cv| bome(tick().map(|()| cv.1))));
    let range_fun: Fun<D> = (
        "range",
        v(3),
        Native::new(|mut cv| {
            let by = cv.0.pop_var();
            let to = cv.0.pop_var();
            let from = cv.0.pop_var();
            Box::new(range(from, to, by))
        }),
    );
    [tick_fun, range_fun].into_iter()
}

/// `range($from; $to; $by)`, a step per number.
fn range<'a>(from: Val, to: Val, by: Val) -> impl Iterator<Item = Result<Val, Exn<'a, Val>>> {
    let direction = by
        .partial_cmp(&Val::from(0_isize))
        .unwrap_or(Ordering::Equal);
    let mut next = Some(from);
    std::iter::from_fn(move || {
        let x = next.take()?;
        let more = match direction {
            Ordering::Greater => x < to,
            Ordering::Less => x > to,
            Ordering::Equal => x != to,
        };
        if !more {
            return None;
        }
        if let Err(err) = tick() {
            return Some(Err(Exn::from(err)));
        }
        match x.clone() + by.clone() {
            Ok(following) => next = Some(following),
            Err(err) => return Some(Err(Exn::from(err))),
        }
        Some(Ok(x))
    })
}

/// A definition of the standard library that takes a step per call if it calls itself (only
/// those can loop: one that does not ends once the recursive ones it calls do), as do its
/// local definitions that call themselves (the `rec` of `def repeat(f): def rec: f, rec; rec;`).
pub(crate) fn counted(def: Def<&'static str>) -> Def<&'static str> {
    let recursive = calls_itself(&def);
    let body = match def.body {
        Term::Def(defs, rest) => Term::Def(defs.into_iter().map(counted).collect(), rest),
        other => other,
    };
    let body = if recursive {
        Term::BinOp(
            Box::new(Term::Call("_tick", Vec::new())),
            BinaryOp::Pipe(None),
            Box::new(body),
        )
    } else {
        body
    };
    Def { body, ..def }
}

/// Whether `def`'s body calls `def` (its parsed form, printed, holds `Call("name", …)`).
fn calls_itself(def: &Def<&'static str>) -> bool {
    format!("{:?}", def.body).contains(&format!("Call({:?}, ", def.name))
}

/// `code` with `_tick |` at the start of each of its definitions' bodies, or `None` when it
/// defines nothing.
pub(crate) fn counted_source(code: &str) -> Option<String> {
    let tokens = Lexer::new(code).lex().ok()?;
    let mut bodies = Vec::new();
    find_bodies(code, &tokens, &mut bodies);
    if bodies.is_empty() {
        return None;
    }
    let mut counted = String::with_capacity(code.len() + bodies.len() * 8);
    let mut copied = 0;
    for at in bodies {
        counted.push_str(&code[copied..at]);
        counted.push_str(" _tick |");
        copied = at;
    }
    counted.push_str(&code[copied..]);
    Some(counted)
}

/// Where the bodies of the definitions in `tokens` start: after `def NAME:` or
/// `def NAME(ARGS):`.
fn find_bodies(code: &str, tokens: &[Token<&str>], bodies: &mut Vec<usize>) {
    for (i, Token(text, tok)) in tokens.iter().enumerate() {
        if let Tok::Block(inner) = tok {
            find_bodies(code, inner, bodies);
        }
        if !matches!(tok, Tok::Word) || *text != "def" {
            continue;
        }
        let mut rest = tokens[i + 1..].iter();
        if !matches!(rest.next(), Some(Token(_, Tok::Word))) {
            continue;
        }
        let colon = match rest.next() {
            Some(Token(_, Tok::Block(_))) => rest.next(),
            other => other,
        };
        if let Some(Token(colon, Tok::Sym)) = colon
            && *colon == ":"
        {
            bodies.push(jaq_core::load::span(code, colon).end);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_standard_definitions_that_call_themselves_take_a_step() {
        let defs: Vec<_> = jaq_core::defs()
            .chain(jaq_std::defs())
            .map(counted)
            .collect();
        let ticks = |name: &str| {
            let def = defs.iter().find(|d| d.name == name).expect(name);
            format!("{:?}", def.body).contains("Call(\"_tick\", [])")
        };
        assert!(ticks("recurse"), "a loop");
        assert!(ticks("repeat"), "its local `rec`");
        assert!(!ticks("map"), "no loop of its own");
    }

    #[test]
    fn every_definition_of_a_program_takes_a_step() {
        assert_eq!(
            counted_source("def f: def g($x): $x; g(.); f").as_deref(),
            Some("def f: _tick | def g($x): _tick | $x; g(.); f")
        );
        assert_eq!(
            counted_source("[.[] | (def f: 1; f)]").as_deref(),
            Some("[.[] | (def f: _tick | 1; f)]")
        );
        assert_eq!(
            counted_source("{def: 1} | .a"),
            None,
            "a key is no definition"
        );
    }

    fn outputs(code: &str, input: serde_json::Value) -> Result<Vec<serde_json::Value>, String> {
        let program = crate::Program::compile(code).expect("compiles");
        assert!(!program.is_native(), "{code} runs on jaq");
        program.outputs(&sluice_event::Event::new(input))
    }

    #[test]
    fn a_runaway_program_fails_its_event_with_the_reason() {
        for code in [
            "until(. == 0; . - 1)",
            "[repeat(1)]",
            "def f: f; f",
            "def f: [f]; f",
            "[range(1e12)]",
            "last(range(0; infinite))",
            "[recurse(. + 1)] | length",
        ] {
            let err = outputs(code, serde_json::json!(-1)).expect_err(code);
            assert!(
                err.contains("cost limit of 1000000 steps")
                    || err.contains("stack limit of 512 KiB"),
                "{code}: {err}"
            );
        }
    }

    #[test]
    fn a_string_repeated_past_the_limit_fails_on_the_native_evaluator() {
        let program = crate::Program::compile(r#".s * 1e12"#).expect("compiles");
        assert!(program.is_native());
        let event = sluice_event::Event::new(serde_json::json!({"s": "ab"}));
        let err = program.outputs(&event).expect_err("too long");
        assert!(err.contains("over the 64 MiB a value may have"), "{err}");
        let event = sluice_event::Event::new(serde_json::json!({"s": "ab", "n": 3}));
        let program = crate::Program::compile(".s * .n").expect("compiles");
        assert_eq!(
            program.outputs(&event),
            Ok(vec![serde_json::json!("ababab")])
        );
    }

    #[test]
    fn programs_within_the_limit_run_as_before() {
        let cases = [
            ("[range(5)]", serde_json::json!([0, 1, 2, 3, 4])),
            ("[range(10; 0; -3)]", serde_json::json!([10, 7, 4, 1])),
            ("[limit(3; repeat(1))]", serde_json::json!([1, 1, 1])),
            (
                "def fac: if . <= 1 then 1 else . * (. - 1 | fac) end; fac",
                serde_json::json!(120),
            ),
            ("[range(100000)] | length", serde_json::json!(100000)),
        ];
        for (code, expected) in cases {
            // Twice: the budget is per event, not per program.
            for _ in 0..2 {
                assert_eq!(
                    outputs(code, serde_json::json!(5)),
                    Ok(vec![expected.clone()]),
                    "{code}"
                );
            }
        }
    }
}

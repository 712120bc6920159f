//! The native evaluator against jaq: programs generated from the native subset, run on
//! generated events by both engines, must give the same outputs, or both fail.
//!
//! Every public way to run a program is compared (`outputs`, `test` and `apply`), on events
//! read from JSON text (the native evaluator then scans or edits the text) and on events built
//! from values. Values are compared as JSON values: numbers by value (jaq writes `2.0` where jq
//! and the native evaluator write `2`), objects whatever the order of their keys.
//! Error messages are not compared: the two engines word them differently.

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use serde_json::{Map, Value, json};
use sluice_event::Event;
use sluice_jq::Program;

/// Paths into the generated events, present or not.
const PATHS: &[&str] = &[
    ".", ".a", ".b", ".c", ".d", ".e", ".d.x", ".d.y", ".c[0]", ".c[-1]", ".c[5]", ".missing",
    ".d.x?", ".c[]", ".d[]",
];

/// Functions of no argument, and the jq definition jaq runs for each (see `JQ_ON_JAQ`).
const UNARY: &[(&str, &str)] = &[
    ("length", "length"),
    ("not", "not"),
    ("keys", "keys"),
    ("tostring", "jq_canon | tostring"),
    ("tonumber", "jq_tonumber"),
    ("tojson", "jq_canon | tojson"),
    ("type", "type"),
    ("ascii_downcase", "ascii_downcase"),
    ("ascii_upcase", "ascii_upcase"),
    ("floor", "floor"),
    ("ceil", "ceil"),
    ("round", "round"),
    ("fabs | sqrt", "fabs | sqrt"),
    ("fabs", "fabs"),
    ("add", "add"),
    ("min", "min"),
    ("max", "max"),
    ("sort", "sort"),
    ("unique", "unique"),
    ("trim", "trim"),
    ("to_entries", "to_entries"),
    ("any", "any"),
    ("all", "all"),
    ("values", "values"),
    ("isnull", "isnull"),
    ("empty", "empty"),
    ("error", "error"),
    ("fromjson", "jq_fromjson"),
    ("reverse", "jq_reverse"),
];

/// Functions of one string argument, and what jaq runs for each.
const STRING_ARG: &[(&str, &str)] = &[
    ("has", "has"),
    ("startswith", "startswith"),
    ("endswith", "endswith"),
    ("split", "split"),
    ("test", "test"),
    ("ltrimstr", "jq_ltrimstr"),
    ("rtrimstr", "jq_rtrimstr"),
    ("contains", "jq_contains"),
];

const STRINGS: &[&str] = &["a", "x", "", "hello", "A,b", "d"];

/// Operators that evaluate their right side first, then the left once per output of it, and
/// the jq definition jaq runs for each.
const OPERATORS: &[(&str, &str)] = &[
    ("+", "$l + $r"),
    ("-", "$l - $r"),
    ("*", "jq_mul($l; $r)"),
    ("/", "jq_div($l; $r)"),
    ("%", "jq_rem($l; $r)"),
    ("==", "$l == $r"),
    ("!=", "$l != $r"),
    ("<", "$l < $r"),
    ("<=", "$l <= $r"),
    (">", "$l > $r"),
    (">=", "$l >= $r"),
];

/// jq's behaviour where jaq departs from it, written in jaq, and put before every program jaq
/// runs. The native evaluator implements jq (1.6, checked against the `jq` command):
///
/// - `ltrimstr`/`rtrimstr` pass anything but a string through; jaq fails.
/// - `contains` fails on values of different types; jaq says `false`.
/// - `reverse` of `null` is `[]`; jaq fails.
/// - `fromjson` of blank text fails; jaq gives `null`. `tonumber` fails on text that is not
///   a number as a whole (`"0a0"`, blank); jaq reads what it can.
/// - A whole number is written without a fraction (`2`, not `2.0`) in text (`tostring`,
///   `tojson`, interpolation, `join`), however it was computed; jaq writes a float as `2.0`.
/// - `join` writes `null` as nothing and fails on objects and arrays; jaq writes `null` and
///   JSON text.
/// - `%` cuts both sides to whole numbers; jaq keeps the fraction. Dividing a number by zero
///   fails; jaq gives infinity or `NaN`.
/// - A string times a number `n > 0` is `n` copies of it, at least one; jaq fails unless `n` is
///   whole.
/// - Binary operators run their right side first (`empty / error` fails); jaq runs the left
///   first. Object construction runs its values left to right, each once per output of those
///   before it; jaq does so right to left. An interpolated string varies its last
///   interpolation slowest; jaq its first.
const JQ_ON_JAQ: &str = r#"
def jq_ltrimstr($s): if type == "string" then ltrimstr($s) else . end;
def jq_rtrimstr($s): if type == "string" then rtrimstr($s) else . end;
def jq_contains($s): if type == "string" then contains($s) else error("types differ") end;
def jq_reverse: if . == null then [] else reverse end;
def jq_fromjson: if type == "string" and test("^\\s*$") then error("blank") else fromjson end;
def jq_tonumber: if type == "string"
    and (test("^\\s*[-+]?([0-9]+\\.?[0-9]*|\\.[0-9]+)([eE][-+]?[0-9]+)?\\s*$") | not)
    then error("not a number") else tonumber end;
def jq_canon: walk(if type == "number" and . == floor and fabs < 1e15 then floor else . end);
def jq_join($s): map(if . == null then "" elif type == "object" or type == "array"
    then error("cannot join") else jq_canon end) | join($s);
def jq_div($l; $r): if ($l | type) == "number" and $r == 0
    then error("division by zero") else $l / $r end;
def jq_int: if . < 0 then ceil else floor end;
def jq_rem($l; $r): if ($l | type) == "number" and ($r | type) == "number"
    then ($l | jq_int) % ($r | jq_int) else $l % $r end;
def jq_mul($l; $r): if ($l | type) == "string" and ($r | type) == "number"
    then (if $r <= 0 then null else $l * ([$r | floor, 1] | max) end)
    elif ($l | type) == "number" and ($r | type) == "string" then jq_mul($r; $l)
    else $l * $r end;
"#;

/// A program twice: as the native evaluator runs it, and as jaq must run it to do what jq does
/// (with `JQ_ON_JAQ` before it).
#[derive(Debug, Clone)]
struct Case {
    native: String,
    jaq: String,
}

impl Case {
    fn same(code: String) -> Case {
        Case {
            jaq: code.clone(),
            native: code,
        }
    }

    /// `f` applied to both texts.
    fn map(self, f: impl Fn(&str) -> String) -> Case {
        Case {
            native: f(&self.native),
            jaq: f(&self.jaq),
        }
    }

    /// The program jaq runs.
    fn reference(&self) -> String {
        format!("{JQ_ON_JAQ}{}", self.jaq)
    }
}

/// Both texts of two cases joined by `f`.
fn join2(a: &Case, b: &Case, f: impl Fn(&str, &str) -> String) -> Case {
    Case {
        native: f(&a.native, &b.native),
        jaq: f(&a.jaq, &b.jaq),
    }
}

fn literal() -> impl Strategy<Value = String> {
    prop_oneof![
        (-5i64..50).prop_map(|n| n.to_string()),
        prop::sample::select(vec!["1.5", "0.25", "-2.5"]).prop_map(str::to_owned),
        prop::sample::select(STRINGS).prop_map(|s| format!("{s:?}")),
        prop::sample::select(vec!["true", "false", "null"]).prop_map(str::to_owned),
    ]
}

fn leaf() -> impl Strategy<Value = Case> {
    prop_oneof![
        3 => prop::sample::select(PATHS).prop_map(|p| Case::same(p.to_owned())),
        2 => literal().prop_map(Case::same),
    ]
}

/// jq programs in the native subset: an expression, or edits of the event's fields by
/// expressions, then deletions. Edits apply to the event itself (an object): through `null`, jq
/// creates the path and jaq fails (see `where_jq_and_jaq_differ`).
fn program() -> impl Strategy<Value = Case> {
    let edit = (
        prop::sample::select(vec!["a", "b", "n", "d"]),
        prop::sample::select(vec!["=", "|=", "+="]),
        expression(),
    )
        .prop_map(|(k, op, v)| v.map(|v| format!(".{k} {op} ({v})")));
    let delete = prop::sample::select(vec!["a", "b", "c", "d", "missing"])
        .prop_map(|k| Case::same(format!("del(.{k})")));
    // Deletions come last: after one, the order of the keys left is jq's in the native
    // evaluator and jaq's own in jaq, which text made of the object would show.
    let edits = (
        prop::collection::vec(edit, 0..3),
        prop::collection::vec(delete, 0..2),
    )
        .prop_map(|(edits, deletes)| {
            edits
                .iter()
                .chain(&deletes)
                .cloned()
                .reduce(|a, b| join2(&a, &b, |a, b| format!("{a} | {b}")))
                .unwrap_or_else(|| Case::same(".".to_owned()))
        });
    prop_oneof![3 => expression(), 1 => edits]
}

/// jq expressions in the native subset, from `leaf` up by the subset's constructs.
fn expression() -> impl Strategy<Value = Case> {
    leaf().prop_recursive(4, 24, 3, |inner| {
        let s = || prop::sample::select(STRINGS);
        prop_oneof![
            (
                inner.clone(),
                prop::sample::select(OPERATORS),
                inner.clone()
            )
                .prop_map(|(l, (op, on_jaq), r)| Case {
                    native: format!("({}) {op} ({})", l.native, r.native),
                    jaq: format!("(({}) as $r | ({}) as $l | {on_jaq})", r.jaq, l.jaq),
                }),
            (
                inner.clone(),
                prop::sample::select(vec!["and", "or", "//"]),
                inner.clone()
            )
                .prop_map(|(l, op, r)| join2(&l, &r, |l, r| format!("({l}) {op} ({r})"))),
            (inner.clone(), inner.clone())
                .prop_map(|(l, r)| join2(&l, &r, |l, r| format!("({l}) | ({r})"))),
            (inner.clone(), inner.clone())
                .prop_map(|(l, r)| join2(&l, &r, |l, r| format!("({l}), ({r})"))),
            (inner.clone(), prop::sample::select(UNARY)).prop_map(|(e, (f, on_jaq))| Case {
                native: format!("({}) | {f}", e.native),
                jaq: format!("({}) | {on_jaq}", e.jaq),
            }),
            (inner.clone(), prop::sample::select(STRING_ARG), s()).prop_map(
                |(e, (f, on_jaq), s)| Case {
                    native: format!("({}) | {f}({s:?})", e.native),
                    jaq: format!("({}) | {on_jaq}({s:?})", e.jaq),
                }
            ),
            (inner.clone(), s()).prop_map(|(e, s)| Case {
                native: format!("[{}] | join({s:?})", e.native),
                jaq: format!("[{}] | jq_join({s:?})", e.jaq),
            }),
            (inner.clone(), inner.clone())
                .prop_map(|(e, c)| join2(&e, &c, |e, c| format!("({e}) | select({c})"))),
            (inner.clone(), inner.clone())
                .prop_map(|(e, f)| join2(&e, &f, |e, f| format!("({e}) | map({f})"))),
            (inner.clone(), inner.clone(), inner.clone()).prop_map(|(c, t, e)| Case {
                native: format!(
                    "if ({}) then ({}) else ({}) end",
                    c.native, t.native, e.native
                ),
                jaq: format!("if ({}) then ({}) else ({}) end", c.jaq, t.jaq, e.jaq),
            }),
            inner.clone().prop_map(|e| e.map(|e| format!("[{e}]"))),
            (
                prop::sample::select(vec!["a", "b", "n", "d"]),
                inner.clone(),
                inner.clone()
            )
                .prop_map(|(k, v, w)| Case {
                    native: format!("{{{k}: ({}), \"z\": ({})}}", v.native, w.native),
                    jaq: format!(
                        "(({}) as $v | ({}) as $w | {{{k}: $v, \"z\": $w}})",
                        v.jaq, w.jaq
                    ),
                }),
            inner.clone().prop_map(|e| Case {
                native: format!("\"<\\({})>\"", e.native),
                jaq: format!("\"<\\(({}) | jq_canon)>\"", e.jaq),
            }),
            (inner.clone(), inner.clone())
                .prop_map(|(e, r)| join2(&e, &r, |e, r| format!("({e}) as $v | ({r}), $v"))),
            inner.clone().prop_map(|e| e.map(|e| format!("try ({e})"))),
            // The catch body gets the error's message, which the two engines word differently:
            // it runs on the input instead.
            (inner.clone(), inner).prop_map(|(e, c)| {
                join2(&e, &c, |e, c| {
                    format!(". as $in | try ({e}) catch ($in | {c})")
                })
            }),
        ]
    })
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        (-3i64..20).prop_map(Value::from),
        prop::sample::select(vec![0.5, 2.25, -1.5]).prop_map(|f| json!(f)),
        prop::sample::select(STRINGS).prop_map(|s| Value::String(s.to_owned())),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
    ]
}

/// Events shaped like the programs' paths expect, with fields present or not.
fn event() -> impl Strategy<Value = Value> {
    (
        prop::option::of(scalar()),
        prop::option::of(scalar()),
        prop::option::of(prop::collection::vec(scalar(), 0..4)),
        prop::option::of((scalar(), scalar())),
        prop::option::of(scalar()),
    )
        .prop_map(|(a, b, c, d, e)| {
            let mut m = Map::new();
            let mut put = |k: &str, v: Option<Value>| {
                if let Some(v) = v {
                    m.insert(k.to_owned(), v);
                }
            };
            put("a", a);
            put("b", b);
            put("c", c.map(Value::Array));
            put("d", d.map(|(x, y)| json!({"x": x, "y": y})));
            put("e", e);
            Value::Object(m)
        })
}

/// A value with every number as a float, so that `2` and `2.0` compare equal, and every object's
/// keys sorted: jaq moves the last key into the place of one deleted, where jq (and the native
/// evaluator, whose unit tests check it) keeps the order.
fn canonical(v: &Value) -> String {
    match v {
        Value::Number(n) => format!("{:?}", n.as_f64().unwrap_or(f64::NAN)),
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(canonical).collect();
            format!("[{}]", inner.join(","))
        }
        Value::Object(m) => {
            let mut inner: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{k:?}:{}", canonical(v)))
                .collect();
            inner.sort();
            format!("{{{}}}", inner.join(","))
        }
        other => other.to_string(),
    }
}

fn results(out: Result<Vec<Value>, String>) -> Result<Vec<String>, ()> {
    out.map(|values| values.iter().map(canonical).collect())
        .map_err(|_| ())
}

fn events_of(out: Result<Vec<Event>, (Event, String)>) -> Result<Vec<String>, ()> {
    out.map(|events| events.iter().map(|e| canonical(e.value())).collect())
        .map_err(|_| ())
}

fn raw(value: &Value) -> Event {
    Event::from_json_bytes(bytes::Bytes::from(value.to_string()))
}

/// 2,000 cases from a fixed seed in the test suite, so that it passes or fails the same way
/// every run; `PROPTEST_CASES` and `PROPTEST_RNG_SEED` set a longer or another search.
fn config() -> Config {
    let mut config = Config::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 2000;
    }
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        config.rng_seed = RngSeed::Fixed(0x51_u64 << 32 | 0xCE);
    }
    config
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn native_and_jaq_agree(case in program(), input in event()) {
        let code = &case.native;
        let native = Program::compile(code);
        let general = Program::compile_general(&case.reference());
        let (native, general) = match (native, general) {
            (Ok(n), Ok(g)) => (n, g),
            (Err(_), Err(_)) => return Ok(()),
            (n, g) => {
                prop_assert!(false, "`{code}` compiles on one engine only: native {n:?}, jaq {g:?} (`{}`)", case.jaq);
                unreachable!()
            }
        };
        prop_assume!(native.is_native());
        for event in [raw(&input), Event::new(input.clone())] {
            prop_assert_eq!(
                results(native.outputs(&event)),
                results(general.outputs(&event)),
                "outputs of `{}` on {}", code, input
            );
            prop_assert_eq!(
                native.test(&event).map_err(|_| ()),
                general.test(&event).map_err(|_| ()),
                "test of `{}` on {}", code, input
            );
            let copy = Event::new(input.clone());
            prop_assert_eq!(
                events_of(native.apply(event)),
                events_of(general.apply(copy)),
                "apply of `{}` on {}", code, input
            );
        }
    }
}

/// What the generator found wrong in the native evaluator, each fixed and kept here.
#[test]
fn found_cases_agree() {
    let same = |code: &str| Case::same(code.to_owned());
    let cases: Vec<(Case, Value)> = vec![
        // A binding's body reads the event, not the bound value, also when only some of the
        // event's keys are scanned from its text.
        (same("(1, 2) as $v | .a"), json!({"a": 1})),
        (same("[5, 6] | to_entries"), json!({})),
        // The right side of an operator runs first: nothing on the left runs for none.
        (
            Case {
                native: "(.c[5] | add) - empty".to_owned(),
                jaq: "(empty) as $r | (.c[5] | add) as $l | $l - $r".to_owned(),
            },
            json!({}),
        ),
        // Outputs are made one at a time: `|=`, a condition and `first` stop at the first one,
        // so what fails after it is never reached.
        (same(".a |= (if (0, .) then . else .c[] end)"), json!({})),
        (same(".a = (., (. | ascii_downcase))"), json!({})),
        (same("[0] | select(0, .a)"), json!({})),
        (same(". , (.d[] | select(.))"), json!({})),
        (same(".b |= \"<\\(0.25, .d.x?)>\""), json!({"b": ""})),
        (
            same(".a |= ((\"A,b\", error(\"y\")) | ltrimstr(\"x\"))"),
            json!({}),
        ),
        (same("null | has(\"a\")"), json!({})),
        (same("(error(\"x\")) // 1"), json!({})),
        (
            same("(\"\" | split(\"a\")), (\"abc\" | split(\"\")), (\"\" / \",\")"),
            json!({}),
        ),
        (
            same("{\"a\": {\"b\": 1, \"c\": 2}, \"k\": 0} * {\"a\": {\"b\": 3}, \"d\": 4}"),
            json!({}),
        ),
        (
            Case {
                native: "(36 * \"x\"), (\"x\" * 2.5), (5.5 % 2), (5 % -2)".to_owned(),
                jaq: "jq_mul(36; \"x\"), jq_mul(\"x\"; 2.5), jq_rem(5.5; 2), (5 % -2)".to_owned(),
            },
            json!({}),
        ),
        (same("({\"a\": true, \"b\": false} | any, all)"), json!({})),
        (
            Case {
                native: "[\"\\(1, 2) \\(3, 4)\"]".to_owned(),
                jaq: "[(3, 4) as $b | (1, 2) as $a | \"\\($a) \\($b)\"]".to_owned(),
            },
            json!({}),
        ),
        (same("(-1 | sqrt), (4 | sqrt)"), json!({})),
        // Any number divided by zero fails, as in jq, not only whole ones.
        (
            Case {
                native: "1.5 / (.b | length)".to_owned(),
                jaq: "jq_div(1.5; .b | length)".to_owned(),
            },
            json!({}),
        ),
    ];
    for (case, input) in cases {
        let native = Program::compile(&case.native).expect("compiles");
        assert!(native.is_native(), "`{}` runs natively", case.native);
        let general = Program::compile_general(&case.reference()).expect("compiles");
        for event in [raw(&input), Event::new(input.clone())] {
            assert_eq!(
                results(native.outputs(&event)),
                results(general.outputs(&event)),
                "`{}` on {input}",
                case.native
            );
            assert_eq!(
                native.test(&event).map_err(|_| ()),
                general.test(&event).map_err(|_| ()),
                "test of `{}` on {input}",
                case.native
            );
        }
    }
}

/// Where jq and jaq part ways, the native evaluator does what jq (1.6, the `jq` command) does:
/// the outputs here are jq's.
#[test]
fn where_jq_and_jaq_differ() {
    type Expected = Result<Vec<Value>, ()>;
    let cases: &[(&str, Value, Expected)] = &[
        // Paths are made through `null` (jaq: "cannot use null as iterable").
        (
            ".meta.x = 1",
            json!({"a": 1}),
            Ok(vec![json!({"a": 1, "meta": {"x": 1}})]),
        ),
        (
            ".c[2] = 1",
            json!({}),
            Ok(vec![json!({"c": [null, null, 1]})]),
        ),
        // A deletion keeps the other keys' order (jaq moves the last key up).
        (
            "del(.a) | tostring",
            json!({"a": 0, "b": 0, "e": 0}),
            Ok(vec![json!(r#"{"b":0,"e":0}"#)]),
        ),
        ("{} | ltrimstr(\"a\")", json!({}), Ok(vec![json!({})])),
        ("{} | contains(\"a\")", json!({}), Err(())),
        ("null | reverse", json!({}), Ok(vec![json!([])])),
        ("\"\" | fromjson", json!({}), Err(())),
        (
            "[null, 1, true] | join(\"-\")",
            json!({}),
            Ok(vec![json!("-1-true")]),
        ),
        ("[{}] | join(\"-\")", json!({}), Err(())),
        (
            "\"\\(4 / 2)\", (4 / 2 | tostring)",
            json!({}),
            Ok(vec![json!("2"), json!("2")]),
        ),
        ("[empty / error(\"x\")]", json!({}), Err(())),
        (
            "(\"x\" * 2.5), (5.5 % 2)",
            json!({}),
            Ok(vec![json!("xx"), json!(1)]),
        ),
        // Found by the jq fuzz target: jq cuts a number past a 64-bit integer's range to its
        // least value before `%`; the native evaluator took the nearest value.
        (
            "(55555555555555555556 % 55555555277), (5 % 5.5e19), ((-5.5e19) % 7)",
            json!({}),
            Ok(vec![json!(-27545207739_i64), json!(5), json!(-1)]),
        ),
        // Found by the jq fuzz target: a number too large for a float was `null`; jq takes
        // the largest float.
        (
            "(555e555555555 % 675), (1e308 * 10), (-555e555555555)",
            json!({}),
            Ok(vec![json!(-458), json!(f64::MAX), json!(-f64::MAX)]),
        ),
        (
            "[\"\\(1, 2) \\(3, 4)\"]",
            json!({}),
            Ok(vec![json!(["1 3", "2 3", "1 4", "2 4"])]),
        ),
    ];
    for (code, input, expected) in cases {
        let native = Program::compile(code).expect("compiles");
        assert!(native.is_native(), "`{code}` runs natively");
        assert_eq!(
            native.outputs(&raw(input)).map_err(|_| ()),
            *expected,
            "`{code}` on {input}"
        );
    }
}

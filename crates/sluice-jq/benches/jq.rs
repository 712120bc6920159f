//! The native evaluator against jaq on the same programs, per event, as pipelines run them: on
//! an event still holding the text it was read from. `cargo bench -p sluice-jq` prints each
//! program's time on both engines (`native/NAME` and `jaq/NAME`); the ratio is the native
//! evaluator's speed-up (docs/decisions/0011-a-native-jq-evaluator.md).

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use sluice_event::Event;
use sluice_jq::Program;

const LINE: &[u8] = br#"{"ts":"2026-01-01T00:00:00.019Z","level":"WARN","service":"worker-5","user_id":742294,"latency_ms":15.5,"msg":"request completed path=/v1/search?q=term57742 status=403"}"#;

/// How a stage uses a program.
#[derive(Clone, Copy)]
enum Use {
    /// A `filter` condition.
    Test,
    /// A `jq` transform: the event is consumed.
    Apply,
}

/// The programs: the JSON ETL's condition and rewrite, and the shapes transforms commonly take.
const PROGRAMS: &[(&str, &str, Use)] = &[
    (
        "condition",
        r#".level == "ERROR" or .level == "WARN""#,
        Use::Test,
    ),
    (
        "rewrite",
        ".slow = (.latency_ms > 100) | .service |= ascii_upcase",
        Use::Apply,
    ),
    (
        "projection",
        "{ts, level, service, latency: .latency_ms}",
        Use::Apply,
    ),
    (
        "string functions",
        r#"{service: (.service | split("-") | .[0]), status: (.msg | test("status=4"))}"#,
        Use::Apply,
    ),
    (
        "interpolation",
        r#""\(.service) \(.level): \(.latency_ms)ms""#,
        Use::Apply,
    ),
];

fn event() -> Event {
    Event::from_json_bytes(Bytes::from_static(LINE))
}

fn engines(c: &mut Criterion) {
    for (name, code, how) in PROGRAMS {
        let native = Program::compile(code).expect("compiles");
        assert!(native.is_native(), "`{code}` runs natively");
        let general = Program::compile_general(code).expect("compiles");
        for (engine, program) in [("native", native), ("jaq", general)] {
            c.bench_function(&format!("{engine}/{name}"), |b| match how {
                Use::Test => b.iter(|| program.test(&event())),
                Use::Apply => b.iter(|| program.apply(event())),
            });
        }
    }
    c.bench_function("decode check (serde_json)", |b| {
        b.iter(|| serde_json::from_slice::<serde::de::IgnoredAny>(LINE).is_ok());
    });
}

criterion_group!(benches, engines);
criterion_main!(benches);

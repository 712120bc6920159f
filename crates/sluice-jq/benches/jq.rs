//! The jq paths of the JSON ETL benchmark, per event: a condition on an unchanged event, a
//! rewrite, and the same on jaq for comparison.

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use sluice_event::Event;
use sluice_jq::Program;

const LINE: &[u8] = br#"{"ts":"2026-01-01T00:00:00.019Z","level":"WARN","service":"worker-5","user_id":742294,"latency_ms":15.5,"msg":"request completed path=/v1/search?q=term57742 status=403"}"#;

fn jq(c: &mut Criterion) {
    let event = || Event::from_json_bytes(Bytes::from_static(LINE));
    let condition = Program::compile(r#".level == "ERROR" or .level == "WARN""#).expect("compiles");
    let rewrite = Program::compile(".slow = (.latency_ms > 100) | .service |= ascii_upcase")
        .expect("compiles");
    let general = Program::compile("reduce (.level, .service) as $x (0; . + ($x | length))")
        .expect("compiles");
    c.bench_function("condition on raw event", |b| {
        b.iter(|| condition.test(&event()));
    });
    c.bench_function("rewrite (parse + update)", |b| {
        b.iter(|| rewrite.apply(event()));
    });
    c.bench_function("jaq fallback", |b| b.iter(|| general.outputs(&event())));
    c.bench_function("decode check (serde_json)", |b| {
        b.iter(|| serde_json::from_slice::<serde::de::IgnoredAny>(LINE).is_ok());
    });
}

criterion_group!(benches, jq);
criterion_main!(benches);

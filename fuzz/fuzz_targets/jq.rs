//! A jq program and an input (split at the first NUL byte): compiling never panics, and where
//! the native evaluator runs the program, it gives what jaq gives, or both fail.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_event::Event;
use sluice_jq::Program;

fuzz_target!(|data: &[u8]| {
    let Some(at) = data.iter().position(|b| *b == 0) else {
        return;
    };
    let (Ok(code), Ok(input)) = (
        std::str::from_utf8(&data[..at]),
        serde_json::from_slice::<serde_json::Value>(&data[at + 1..]),
    ) else {
        return;
    };
    let Ok(program) = Program::compile(code) else {
        return;
    };
    if !program.is_native() {
        return;
    }
    let Ok(reference) = Program::compile_general(code) else {
        panic!("jaq refused what it compiled: {code}");
    };
    let event = Event::new(input);
    let native = program.outputs(&event).map(|v| normal(&v));
    let jaq = reference.outputs(&event).map(|v| normal(&v));
    match (&native, &jaq) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "{code}"),
        (Err(_), Err(_)) => {}
        _ => panic!("{code}: native {native:?}, jaq {jaq:?}"),
    }
});

/// Values as JSON text with every number written as a float, so `2` and `2.0` compare equal.
fn normal(values: &[serde_json::Value]) -> Vec<String> {
    values.iter().map(|v| canon(v).to_string()).collect()
}

fn canon(value: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Number(n) => n
            .as_f64()
            .and_then(serde_json::Number::from_f64)
            .map_or(Value::Null, Value::Number),
        Value::Array(items) => Value::Array(items.iter().map(canon).collect()),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), canon(v))).collect())
        }
        other => other.clone(),
    }
}

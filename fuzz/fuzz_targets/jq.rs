//! A jq program and an input (split at the first NUL byte): compiling never panics, and where
//! the native evaluator runs the program, it gives what jaq gives, or both fail. Where they
//! disagree, the native evaluator must give what the `jq` command gives (it implements jq 1.6,
//! and jaq differs from jq in the places decision 0011 lists).
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
    let agree = match (&native, &jaq) {
        (Ok(a), Ok(b)) => a == b,
        (Err(_), Err(_)) => true,
        _ => false,
    };
    // Sluice reads programs with jaq's grammar, where `%` binds tighter than `*` and `/`
    // (docs/configuration.md): jq is no oracle for a program that mixes them.
    let mixes_rem = code.contains('%') && (code.contains('*') || code.contains('/'));
    // Patterns are Rust's regex syntax, not jq's Oniguruma: jq is no oracle for them either.
    let regex = ["test(", "match(", "capture(", "scan(", "splits(", "sub(", "gsub("]
        .iter()
        .any(|f| code.contains(f));
    if agree || mixes_rem || regex {
        return;
    }
    let Some(jq) = jq_command(code, &data[at + 1..]) else {
        return;
    };
    match (&native, &jq) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "{code}: jaq {jaq:?}"),
        (Err(_), Err(())) => {}
        _ => panic!("{code}: native {native:?}, jaq {jaq:?}, jq {jq:?}"),
    }
});

/// What the `jq` command gives for `code` on `input`, if it is installed: its outputs as
/// [`normal`] writes them, or `Err` when it fails.
///
/// The input goes through a file, not a pipe: a fuzz target has no Rust `main` to ignore
/// SIGPIPE, so a `jq` that exits before reading its input would kill the fuzzer.
fn jq_command(code: &str, input: &[u8]) -> Option<Result<Vec<String>, ()>> {
    let file = std::env::temp_dir().join(format!("sluice-fuzz-jq-{}.json", std::process::id()));
    std::fs::write(&file, input).ok()?;
    let out = std::process::Command::new("jq")
        .arg("-c")
        // A leading space: a program that starts with `-` is not taken for an option.
        .arg(format!(" {code}"))
        .arg(&file)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    // Exit status 3: jq could not compile the program. Sluice reads programs with jaq's
    // grammar (`--2` is a number there, not in jq), so jq has no answer to compare with.
    if out.status.code() == Some(3) {
        return None;
    }
    if !out.status.success() {
        return Some(Err(()));
    }
    let values: Result<Vec<serde_json::Value>, _> =
        serde_json::Deserializer::from_slice(&out.stdout).into_iter().collect();
    Some(values.map(|v| normal(&v)).map_err(|_| ()))
}

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

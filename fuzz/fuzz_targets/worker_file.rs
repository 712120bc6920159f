//! Any text as a worker file, with the first line as a `--set` override: loading reports
//! problems and never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (set, text) = text.split_once('\n').unwrap_or(("", &text));
    let sets = if set.contains('=') {
        vec![set.to_owned()]
    } else {
        Vec::new()
    };
    let env = |name: &str| (name == "SET").then(|| "1".to_owned());
    let _ = sluice_config::worker::parse("worker.yaml", text, &sets, &env);
});

//! Filter-transform (seed 002): keep the log lines that matter, then reshape them.

use sluice_core::{Flow, Operators};

#[derive(Debug)]
struct Entry {
    level: String,
    service: String,
    message: String,
}

fn parse(line: &str) -> Option<Entry> {
    let mut parts = line.splitn(3, ' ');
    Some(Entry {
        level: parts.next()?.to_owned(),
        service: parts.next()?.to_owned(),
        message: parts.next()?.to_owned(),
    })
}

#[tokio::main]
async fn main() -> Result<(), sluice_core::Error> {
    let lines = [
        "INFO api request served",
        "ERROR db connection refused",
        "DEBUG cache miss for key 42",
        "WARN api slow response 2300ms",
        "INFO auth login ok",
    ];
    let important = Flow::from_iter(lines)
        .filter_map(parse)
        .filter(|e| e.level == "ERROR" || e.level == "WARN")
        .map(|e| format!("[{}] {}: {}", e.level, e.service.to_uppercase(), e.message))
        .collect()
        .await?;
    for line in important {
        println!("{line}");
    }
    Ok(())
}

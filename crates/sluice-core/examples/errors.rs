//! Errors as values (seed 002): a record that fails is not lost and does not stop the
//! pipeline; it goes to the stage's error output with the reason, here a dead-letter list.

use sluice_core::{Operators, Pipeline};

#[tokio::main]
async fn main() -> Result<(), sluice_core::Error> {
    let p = Pipeline::new("errors");
    let (errors, failed) = p.error_output::<String>();
    let dead_letters = tokio::spawn(failed.map(|f| format!("{} ({})", f.item, f)).collect());

    let lines = ["12", "7", "seven", "40", "-3", ""].map(String::from);
    let parsed = p
        .from_iter(lines)
        .stage("parse")
        .errors_to(errors)
        .try_map(|line: &String| line.parse::<i64>())
        .stage("validate")
        .try_map(|n: &i64| {
            if *n >= 0 {
                Ok(*n)
            } else {
                Err(format!("{n} is negative"))
            }
        })
        .collect()
        .await?;

    println!("parsed: {parsed:?}");
    for dead in dead_letters
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?
    {
        println!("dead letter: {dead}");
    }
    let report = p
        .report()
        .unwrap_or_else(|| unreachable!("a finished run has a report"));
    println!(
        "validate failed {} item(s) with no error output wired: counted and logged",
        report.stage("validate").map_or(0, |s| s.errors)
    );
    Ok(())
}

//! Dynamic pipeline (seed 002): stages chosen at run time from a configuration, each a
//! function from flow to flow.

use sluice_core::{Flow, Operators};

/// A stage built from configuration.
type StageFn = Box<dyn FnOnce(Flow<String>) -> Flow<String>>;

fn stage(spec: &str) -> Result<StageFn, String> {
    let (name, arg) = spec.split_once(':').unwrap_or((spec, ""));
    let arg = arg.to_owned();
    Ok(match name {
        "upper" => Box::new(|f: Flow<String>| f.map(|s| s.to_uppercase())),
        "prefix" => Box::new(move |f: Flow<String>| f.map(move |s| format!("{arg}{s}"))),
        "suffix" => Box::new(move |f: Flow<String>| f.map(move |s| format!("{s}{arg}"))),
        "min_len" => {
            let min: usize = arg.parse().map_err(|e| format!("min_len:{arg}: {e}"))?;
            Box::new(move |f: Flow<String>| f.filter(move |s| s.len() >= min))
        }
        other => {
            return Err(format!(
                "unknown stage `{other}`; expected upper, prefix, suffix or min_len"
            ));
        }
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The seed's pipeline: toUpper, addPrefix(">> "), filter(len > 5), addSuffix(" <<").
    let config = ["upper", "prefix:>> ", "min_len:9", "suffix: <<"];
    let stages = config
        .iter()
        .map(|s| stage(s))
        .collect::<Result<Vec<_>, _>>()?;
    let words = ["hello", "world", "pipeline", "go", "channels"].map(String::from);
    let flow = stages
        .into_iter()
        .fold(Flow::from_iter(words), |flow, stage| stage(flow));
    for line in flow.collect().await? {
        println!("{line}");
    }
    match stage("reverse") {
        Err(e) => println!("rejected: {e}"),
        Ok(_) => unreachable!("reverse is not a stage"),
    }
    Ok(())
}

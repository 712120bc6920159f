//! `sluice tap [ADDR] STAGE`: prints a live sample of the events leaving a component of a
//! running pipeline, as JSON lines, until `--limit` or Ctrl-C. The process samples (at most
//! `--rate` events a second) and drops what a slow reader has no room for, so tapping never
//! slows the pipeline. Events may hold personal data: the admin token is needed.

use std::io::Write;
use std::process::ExitCode;

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use super::client::{AdminClient, DEFAULT_ADDR};
use crate::admin::TokenArg;

/// What `sluice tap` is given.
#[derive(Debug, clap::Args)]
pub(crate) struct TapArgs {
    /// The admin address of the running process (`--admin-addr`; defaults to 127.0.0.1:9598),
    /// then the component: `STAGE`, or `PIPELINE/STAGE`.
    #[arg(value_name = "[ADDR] STAGE", num_args = 1..=2, required = true)]
    targets: Vec<String>,
    /// The output to tap: `errors` (its dead letters), or a route's name. Defaults to the main
    /// output.
    #[arg(long)]
    output: Option<String>,
    /// Stop after this many events.
    #[arg(long)]
    limit: Option<u64>,
    /// At most this many events a second; the process drops the rest.
    #[arg(long, default_value_t = 100.0)]
    rate: f64,
    #[command(flatten)]
    token: TokenArg,
}

/// Runs `sluice tap`.
pub(crate) async fn tap(args: TapArgs) -> anyhow::Result<ExitCode> {
    let (addr, stage) = match args.targets.as_slice() {
        [stage] => (DEFAULT_ADDR, stage.as_str()),
        [addr, stage, ..] => (addr.as_str(), stage.as_str()),
        [] => anyhow::bail!("name the component to tap: sluice tap [ADDR] STAGE"),
    };
    let client = AdminClient::new(addr, args.token.token()?)?;
    let overview = match client
        .json("/api/v1/pipelines", std::time::Duration::from_secs(5))
        .await
    {
        Ok(overview) => overview,
        Err(message) => return Ok(failed(&message)),
    };
    let pipeline = match find(&overview, stage) {
        Ok(pipeline) => pipeline,
        Err(message) => return Ok(failed(&message)),
    };
    let name = stage.rsplit('/').next().unwrap_or(stage);
    let mut path = format!(
        "/api/v1/pipelines/{}/components/{}/tap?rate={}",
        utf8_percent_encode(&pipeline, NON_ALPHANUMERIC),
        utf8_percent_encode(name, NON_ALPHANUMERIC),
        args.rate
    );
    if let Some(output) = &args.output {
        path.push_str(&format!(
            "&output={}",
            utf8_percent_encode(output, NON_ALPHANUMERIC)
        ));
    }
    if let Some(limit) = args.limit {
        path.push_str(&format!("&limit={limit}"));
    }
    let mut answer = match client.send(&path, None).await {
        Ok(answer) => answer,
        Err(message) => return Ok(failed(&message)),
    };
    let mut out = std::io::stdout().lock();
    loop {
        match answer.chunk().await {
            Ok(Some(bytes)) => {
                // A reader that went away (`| head`) ends the tap.
                if out.write_all(&bytes).and_then(|()| out.flush()).is_err() {
                    return Ok(ExitCode::SUCCESS);
                }
            }
            Ok(None) => return Ok(ExitCode::SUCCESS),
            Err(e) => {
                return Ok(failed(&format!(
                    "{}: the tap ended: {e} (did the process stop?)",
                    client.base()
                )));
            }
        }
    }
}

fn failed(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::FAILURE
}

/// The pipeline holding `stage` (`NAME` or `PIPELINE/NAME`), or what to write instead.
fn find(overview: &serde_json::Value, stage: &str) -> Result<String, String> {
    let (wanted_pipeline, name) = match stage.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, stage),
    };
    let pipelines = overview["pipelines"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut all = Vec::new();
    let mut found = Vec::new();
    for p in &pipelines {
        let pipeline = p["name"].as_str().unwrap_or_default();
        for c in p["components"].as_array().into_iter().flatten() {
            let component = c["name"].as_str().unwrap_or_default();
            all.push(format!("{pipeline}/{component}"));
            if component == name && wanted_pipeline.is_none_or(|w| w == pipeline) {
                found.push(pipeline.to_owned());
            }
        }
    }
    match found.as_slice() {
        [one] => Ok(one.clone()),
        [] if all.is_empty() => Err("the process runs no pipeline".to_owned()),
        [] => Err(format!(
            "no component `{stage}`; the running ones are: {}",
            all.join(", ")
        )),
        several => Err(format!(
            "`{name}` is in several pipelines ({}): write PIPELINE/{name}",
            several.join(", ")
        )),
    }
}

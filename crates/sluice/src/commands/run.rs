//! `sluice run`: runs a pipeline until its sources end or Ctrl-C, then prints a summary per
//! stage.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use sluice_config::Graph;
use sluice_core::{Pipeline, PipelineConfig};

use super::pipeline_file::load;
use super::problems::report;
use crate::admin::AdminArgs;

fn pipeline_for(graph: &Graph, file: &Path) -> Pipeline {
    let settings = &graph.spec.settings;
    let mut config = PipelineConfig::default().handle_signals(true);
    if let Some(c) = settings.capacity {
        config = config.capacity(c);
    }
    if let Some(b) = settings.batch_size {
        config = config.batch_size(b);
    }
    if let Some(t) = settings.shutdown_timeout {
        config = config.shutdown_timeout(t);
    }
    let name = settings.name.clone().unwrap_or_else(|| {
        file.file_stem().map_or_else(
            || "pipeline".to_owned(),
            |s| s.to_string_lossy().into_owned(),
        )
    });
    Pipeline::with_config(name, config)
}

pub(crate) async fn run(
    file: &Path,
    sets: &[String],
    admin: &AdminArgs,
    fail_on_dead: bool,
    quiet: bool,
) -> anyhow::Result<ExitCode> {
    let graph = match load(file, sets)? {
        Ok(graph) => graph,
        Err(problems) => return Ok(report(&problems)),
    };
    admin.serve(None).await?;
    let traces = crate::traces::start(graph.spec.settings.tracing.as_ref(), &|name| {
        std::env::var(name).ok()
    })?;
    let built = graph
        .build(pipeline_for(&graph, file))
        .map_err(|e| anyhow::anyhow!("cannot start the pipeline: {e}"))?;
    let bar = (!quiet && std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .then(|| crate::progress::show(&built.progress))
        .flatten();
    let pipeline = built.pipeline.clone();
    let result = pipeline.run().await;
    if let Some(traces) = traces {
        traces.stop().await;
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let report = match (&result, pipeline.report()) {
        (_, Some(report)) => report,
        (Err(e), None) => return Err(anyhow::anyhow!("{e}")),
        (Ok(report), None) => report.clone(),
    };
    if !quiet {
        eprint!("{report}");
    }
    if let Err(e) = result {
        eprintln!("error: {e}");
        return Ok(ExitCode::FAILURE);
    }
    let failed: u64 = report.stages.iter().map(|s| s.errors).sum();
    if failed > 0 {
        tracing::warn!(failed, "some events failed; see the error outputs");
        if fail_on_dead {
            return Ok(ExitCode::from(3));
        }
    }
    // A pipeline that ends leaves nothing running; give logs a moment to flush.
    tokio::time::sleep(Duration::from_millis(1)).await;
    Ok(ExitCode::SUCCESS)
}

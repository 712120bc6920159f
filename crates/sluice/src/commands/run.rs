//! `sluice run`: runs a pipeline until its sources end or Ctrl-C, then prints a summary per
//! stage; with `--worker`, a worker runs alongside until then.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use std::sync::Arc;

use sluice_config::{Built, Graph};
use sluice_console::live::{LiveComponent, LivePipeline};
use sluice_core::Pipeline;
use sluice_core::probe::Tap;

use super::pipeline_file::load;
use super::problems::report;
use super::store::StoreArg;
use super::worker::{prepare, work};
use crate::admin::AdminArgs;

fn pipeline_for(graph: &Graph, file: &Path) -> Pipeline {
    let settings = &graph.spec.settings;
    let config = settings.pipeline_config().handle_signals(true);
    let name = settings.name.clone().unwrap_or_else(|| {
        file.file_stem().map_or_else(
            || "pipeline".to_owned(),
            |s| s.to_string_lossy().into_owned(),
        )
    });
    Pipeline::with_config(name, config)
}

/// The pipeline as the console shows it while it runs: its components, their settings (secrets
/// masked) and the probes on their outputs.
fn live(graph: &Graph, built: &Built) -> LivePipeline {
    let components = graph
        .spec
        .components
        .iter()
        .map(|c| LiveComponent {
            name: c.name.clone(),
            kind: c.kind.name(),
            type_name: c.type_name.clone(),
            workers: c.common.workers.unwrap_or(1).max(1),
            settings: c.settings(),
            inputs: c
                .inputs
                .iter()
                .map(|i| (i.component.clone(), i.output.clone()))
                .collect(),
            outputs: built
                .outputs
                .iter()
                .filter(|(component, _, _)| *component == c.name)
                .map(|(_, output, probe)| (output.clone(), Arc::clone(probe) as Arc<dyn Tap>))
                .collect(),
        })
        .collect();
    LivePipeline {
        pipeline: built.pipeline.clone(),
        components,
    }
}

/// Runs the pipeline of `file` (with `sets`), and the worker of `worker` (its file and store)
/// alongside until the pipeline ends.
pub(crate) async fn run(
    file: &Path,
    sets: &[String],
    admin: &AdminArgs,
    worker: Option<&(PathBuf, StoreArg)>,
    fail_on_dead: bool,
    quiet: bool,
) -> anyhow::Result<ExitCode> {
    let graph = match load(file, sets)? {
        Ok(graph) => graph,
        Err(problems) => return Ok(report(&problems)),
    };
    let admin = admin.bind().await?;
    let worker = match worker {
        Some((file, store)) => match prepare(Some(file), &[], store).await? {
            Ok(prepared) => Some(prepared),
            Err(code) => return Ok(code),
        },
        None => None,
    };
    // The pipeline's tracing settings, else the worker file's.
    let tracing = graph
        .spec
        .settings
        .tracing
        .as_ref()
        .or_else(|| worker.as_ref()?.settings.file.tracing.as_ref());
    let traces = crate::traces::start(tracing, &|name| std::env::var(name).ok())?;
    let built = graph
        .build(pipeline_for(&graph, file))
        .map_err(|e| anyhow::anyhow!("cannot start the pipeline: {e}"))?;
    if let Some(admin) = admin {
        admin.serve(
            worker.as_ref().map(|w| w.store.clone()),
            vec![live(&graph, &built)],
        );
    }
    let (stop_worker, stopped) = tokio::sync::oneshot::channel::<()>();
    let working = worker.map(|w| {
        tokio::spawn(work(w.worker, async move {
            let _ = stopped.await;
        }))
    });
    let bar = (!quiet && std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .then(|| crate::progress::show(&built.progress))
        .flatten();
    let pipeline = built.pipeline.clone();
    let result = pipeline.run().await;
    drop(stop_worker);
    if let Some(working) = working {
        let _ = working.await;
    }
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

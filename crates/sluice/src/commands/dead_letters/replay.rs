//! `sluice dead-letters replay PIPELINE --from SINK`: sends the dead letters a `file` sink holds
//! back into the components they failed at (see [`sluice_config::replay`]).
//!
//! The file is first moved aside (`FILE.replaying`), so that events failing again, which the
//! pipeline writes to `FILE` as before, are not read again in the same replay. It is read with a
//! checkpoint (`FILE.replaying.checkpoint`) that moves past a record only once its replayed
//! event is final: a replay that is killed loses nothing, and the next one resumes the file
//! aside from its checkpoint, replaying again at most what had not been checkpointed. A replay
//! that reaches the end removes both. The pipeline itself must not be running meanwhile: it
//! would go on writing to the file moved aside.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use sluice_config::Graph;
use sluice_config::replay::{ReplayFilter, component_of};
use sluice_connect::component::{Source, SourceContext};
use sluice_connect::file::FileSource;
use sluice_core::{Operators, Pipeline, PipelineConfig};

use super::summary::Summary;
use crate::commands::pipeline_file::load;
use crate::commands::problems::report;

/// What `replay` is given.
#[derive(Debug, clap::Args)]
pub(crate) struct ReplayArgs {
    /// The pipeline file (fixed, so that the events no longer fail).
    file: PathBuf,
    /// The `file` sink whose dead letters are replayed.
    #[arg(long = "from", value_name = "SINK")]
    from: String,
    /// Only the dead letters of this component (or stage, such as `logs.decode`).
    #[arg(long)]
    stage: Option<String>,
    /// Only the dead letters whose error contains this text.
    #[arg(long)]
    error: Option<String>,
    /// Say what would be replayed, and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Override a setting, as for `run`.
    #[arg(long = "set", value_name = "KEY.PATH=VALUE")]
    sets: Vec<String>,
}

/// Runs `replay`.
pub(crate) async fn replay(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let graph = match load(&args.file, &args.sets)? {
        Ok(graph) => graph,
        Err(problems) => return Ok(report(&problems)),
    };
    let file = graph
        .dead_letter_file(&args.from)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.file.display()))?;
    let aside = with_suffix(&file, ".replaying");
    let checkpoint = with_suffix(&file, ".replaying.checkpoint");
    let filter = ReplayFilter {
        stage: args.stage.clone(),
        error: args.error.clone(),
    };
    if args.dry_run {
        let reading = if aside.exists() { &aside } else { &file };
        print!("{}", dry_run(&graph, &args.from, reading, &filter)?);
        return Ok(ExitCode::SUCCESS);
    }
    if aside.exists() {
        eprintln!(
            "resuming the replay of {} (an earlier replay did not finish)",
            aside.display()
        );
    } else if std::fs::metadata(&file).map_or(true, |m| m.len() == 0) {
        eprintln!(
            "nothing to replay: {} holds no dead letters",
            file.display()
        );
        return Ok(ExitCode::SUCCESS);
    } else {
        std::fs::rename(&file, &aside).with_context(|| {
            format!(
                "cannot move {} aside to {}",
                file.display(),
                aside.display()
            )
        })?;
    }
    let name = format!("{}-replay", args.from);
    let pipeline = Pipeline::with_config(
        format!("replay of {}", args.from),
        PipelineConfig::default().handle_signals(true),
    );
    let reader: FileSource = serde_json::from_value(serde_json::json!({
        "path": aside,
        "checkpoint": checkpoint,
    }))?;
    let read = reader
        .build(&SourceContext {
            pipeline: pipeline.clone(),
            name: name.clone(),
            errors_wired: true,
        })
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", aside.display()))?;
    // Lines of the file that are not records go back as they are (they are records of the
    // reader's own decode stage, which no component takes).
    let records = match read.errors {
        Some(errors) => read
            .events
            .stage(format!("{name}.merge"))
            .merge_with(vec![errors]),
        None => read.events,
    };
    let built = graph
        .build_replay(pipeline, records, &args.from, &filter)
        .map_err(|e| anyhow::anyhow!("cannot build the replay: {e}"))?;
    let result = built.pipeline.run().await;
    let report = match (&result, built.pipeline.report()) {
        (_, Some(report)) => report,
        (Err(e), None) => return Err(anyhow::anyhow!("{e}")),
        (Ok(report), None) => report.clone(),
    };
    for stage in &report.stages {
        if let Some(to) = stage.name.strip_suffix(".replayed")
            && stage.items_in > 0
        {
            if to == args.from {
                eprintln!(
                    "{} records kept as dead letters (left out by the filter, or raw bytes that still do not decode)",
                    stage.items_in
                );
            } else {
                eprintln!("{} records replayed into `{to}`", stage.items_in);
            }
        }
    }
    if let Err(e) = result {
        eprintln!(
            "error: {e}; the replay resumes from {} next time",
            aside.display()
        );
        return Ok(ExitCode::FAILURE);
    }
    if report.cancelled {
        eprintln!(
            "stopped before the end; the replay resumes from {} next time",
            aside.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    for done in [&aside, &checkpoint] {
        if let Err(e) = std::fs::remove_file(done)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(file = %done.display(), %e, "cannot remove a finished replay's file");
        }
    }
    let again = std::fs::metadata(&file).map_or(0, |m| m.len());
    if again > 0 {
        eprintln!(
            "some events failed again: they are dead letters in {} once more",
            file.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `path` with `suffix` added to its file name.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

/// What a replay of `file` would do: the records per component they would go back to, and
/// those that would stay.
fn dry_run(
    graph: &Graph,
    sink: &str,
    file: &Path,
    filter: &ReplayFilter,
) -> anyhow::Result<String> {
    use std::io::BufRead;
    let targets = graph.dead_letter_targets(sink);
    let mut taken = Summary::new(1);
    let mut kept = Summary::new(1);
    let reader = std::io::BufReader::new(
        std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?,
    );
    for line in reader.lines() {
        let line = line.with_context(|| format!("cannot read {}", file.display()))?;
        let record: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        let stage = record["stage"].as_str().unwrap_or_default();
        if targets.iter().any(|t| t == component_of(stage)) && filter.takes(&record) {
            taken.add_line(&line);
        } else {
            kept.add_line(&line);
        }
    }
    Ok(format!(
        "would replay, from {}:\n{}\nwould keep as dead letters:\n{}",
        file.display(),
        taken.text("to replay"),
        kept.text("to keep")
    ))
}

//! `sluice dead-letters replay PIPELINE --from SINK`: sends the dead letters a `file`, `kafka`,
//! `postgres` or `redis_stream` sink holds back into the components they failed at (see
//! [`sluice_config::replay`]).
//!
//! A topic or a stream is read by a `kafka` or `redis_stream` source in a consumer group of the
//! replay's own (`sluice-replay-PIPELINE-SINK`), up to where it ended when the replay started
//! (events failing again are written to the same topic or stream, after that end); offsets are
//! committed (entries acknowledged) as the replayed events become final, so a replay killed half
//! way resumes from the group's place, and the next replay takes only what came since.
//!
//! A table is read by a `postgres` source as it was when the replay started (events failing
//! again are new rows, left for the next replay), and each row is deleted once its replayed
//! event is final: a replay killed half way leaves exactly the rows not yet done.
//!
//! A file is first moved aside (`FILE.replaying`), so that events failing again, which the
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
use sluice_config::replay::{DeadLetterStore, ReplayFilter, component_of};
use sluice_connect::component::{Component, Kind, SourceContext};
use sluice_connect::registry;
use sluice_core::{Flow, Operators, Pipeline};
use sluice_event::Event;

use super::summary::Summary;
use crate::commands::pipeline_file::load;
use crate::commands::problems::report;

/// What `replay` is given.
#[derive(Debug, clap::Args)]
pub(crate) struct ReplayArgs {
    /// The pipeline file (fixed, so that the events no longer fail).
    file: PathBuf,
    /// The `file`, `kafka`, `postgres` or `redis_stream` sink whose dead letters are replayed.
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
    let store = graph
        .dead_letter_store(&args.from)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.file.display()))?;
    let filter = ReplayFilter {
        stage: args.stage.clone(),
        error: args.error.clone(),
    };
    if args.dry_run {
        let (reader, what) = Reader::once(&graph, &args.file, &args.from)?;
        print!(
            "{}",
            dry_run(&graph, &args.from, &filter, &reader, &what).await?
        );
        return Ok(ExitCode::SUCCESS);
    }
    if let DeadLetterStore::File(file) = &store {
        return replay_file(&graph, &args.from, &filter, file).await;
    }
    // The group (or the rows deleted) keeps the replay's place: a replay killed half way
    // resumes there, and the next replay starts after what this one did.
    let group = replay_group(&graph, &args.file, &args.from);
    let (reader, place) = Reader::of(&store, &group, true);
    Ok(run_replay(&graph, &args.from, &filter, &reader)
        .await?
        .exit_code(&place))
}

/// A file sink's replay: the file is moved aside, read with a checkpoint, and removed at the
/// end.
async fn replay_file(
    graph: &Graph,
    sink: &str,
    filter: &ReplayFilter,
    file: &Path,
) -> anyhow::Result<ExitCode> {
    let aside = with_suffix(file, ".replaying");
    let checkpoint = with_suffix(file, ".replaying.checkpoint");
    if aside.exists() {
        eprintln!(
            "resuming the replay of {} (an earlier replay did not finish)",
            aside.display()
        );
    } else if std::fs::metadata(file).map_or(true, |m| m.len() == 0) {
        eprintln!(
            "nothing to replay: {} holds no dead letters",
            file.display()
        );
        return Ok(ExitCode::SUCCESS);
    } else {
        std::fs::rename(file, &aside).with_context(|| {
            format!(
                "cannot move {} aside to {}",
                file.display(),
                aside.display()
            )
        })?;
    }
    let reader = Reader {
        kind: "file",
        // A killed replay sends again at most the records it had not finished and those of its
        // last tenth of a second.
        options: serde_json::json!({
            "path": aside, "checkpoint": checkpoint, "checkpoint_interval": "100ms",
        }),
    };
    let outcome = run_replay(graph, sink, filter, &reader).await?;
    if outcome == Outcome::Done {
        for done in [&aside, &checkpoint] {
            if let Err(e) = std::fs::remove_file(done)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(file = %done.display(), %e, "cannot remove a finished replay's file");
            }
        }
        if std::fs::metadata(file).map_or(0, |m| m.len()) > 0 {
            eprintln!(
                "some events failed again: they are dead letters in {} once more",
                file.display()
            );
        }
    }
    Ok(outcome.exit_code(&aside.display().to_string()))
}

/// The source that reads dead letters back: its type and options.
pub(super) struct Reader {
    kind: &'static str,
    options: serde_json::Value,
}

/// The consumer group of the replays of `sink` in the pipeline of `file`.
fn replay_group(graph: &Graph, file: &Path, sink: &str) -> String {
    let pipeline = graph.spec.settings.name.clone().unwrap_or_else(|| {
        file.file_stem()
            .map_or_else(String::new, |s| s.to_string_lossy().into_owned())
    });
    format!("sluice-replay-{pipeline}-{sink}")
}

impl Reader {
    /// A reader of what `store` holds now, and where it is, for a person. A topic is read in
    /// `group`, up to where it ends now. When `replaying`, a stream is read in `group` too, and
    /// each row of a table is deleted once done; else a stream is read on its own and a table
    /// is left as it is.
    pub(super) fn of(store: &DeadLetterStore, group: &str, replaying: bool) -> (Reader, String) {
        let with = |connection: &serde_json::Map<String, serde_json::Value>,
                    more: serde_json::Value| {
            let mut options = connection.clone();
            if let serde_json::Value::Object(more) = more {
                options.extend(more);
            }
            serde_json::Value::Object(options)
        };
        match store {
            DeadLetterStore::File(path) => (
                Reader {
                    kind: "file",
                    options: serde_json::json!({ "path": path }),
                },
                path.display().to_string(),
            ),
            DeadLetterStore::Kafka { topic, connection } => {
                let options = serde_json::json!({
                    "topics": [topic], "group": group, "stop_at_end": true,
                    "commit_interval": "100ms",
                });
                (
                    Reader {
                        kind: "kafka",
                        options: with(connection, options),
                    },
                    format!("the group {group} of topic {topic}"),
                )
            }
            DeadLetterStore::Redis { stream, connection } => {
                let mut options = serde_json::json!({ "stream": stream, "stop_at_end": true });
                let mut place = format!("stream {stream}");
                if replaying {
                    options["group"] = serde_json::json!(group);
                    options["consumer"] = serde_json::json!("replay");
                    place = format!("the group {group} of {place}");
                }
                (
                    Reader {
                        kind: "redis_stream",
                        options: with(connection, options),
                    },
                    place,
                )
            }
            DeadLetterStore::Postgres { table, connection } => {
                let options = serde_json::json!({ "table": table, "delete_finished": replaying });
                (
                    Reader {
                        kind: "postgres",
                        options: with(connection, options),
                    },
                    format!("table {table}"),
                )
            }
        }
    }

    /// A reader of every dead letter the sink `sink` of the pipeline in `file` holds now, that
    /// moves nothing (a file aside if a replay left one, else the file; a topic in a group used
    /// once), and what it reads, for a person.
    pub(super) fn once(graph: &Graph, file: &Path, sink: &str) -> anyhow::Result<(Reader, String)> {
        let store = graph
            .dead_letter_store(sink)
            .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
        let group = format!(
            "{}-read-once-{}",
            replay_group(graph, file, sink),
            std::process::id()
        );
        Ok(match store {
            DeadLetterStore::File(path) => {
                let aside = with_suffix(&path, ".replaying");
                let reading = DeadLetterStore::File(if aside.exists() { aside } else { path });
                Reader::of(&reading, &group, false)
            }
            store => Reader::of(&store, &group, false),
        })
    }

    /// Its flow of records on `pipeline`, with the lines that are not records merged in (they
    /// are records of the reader's own decode stage, which no component takes, so they go back
    /// as they are).
    fn records(&self, pipeline: &Pipeline, name: &str) -> anyhow::Result<Flow<Event>> {
        let registration = registry::find(Kind::Source, self.kind)
            .ok_or_else(|| anyhow::anyhow!("this build has no `{}` source", self.kind))?;
        let Ok(Component::Source(source)) = registration.read(self.options.clone()) else {
            anyhow::bail!("cannot read dead letters with a `{}` source", self.kind);
        };
        let read = source
            .build(&SourceContext {
                pipeline: pipeline.clone(),
                name: name.to_owned(),
                errors_wired: true,
                breaker: None,
            })
            .map_err(|e| anyhow::anyhow!("cannot read the dead letters: {e}"))?;
        Ok(match read.errors {
            Some(errors) => read
                .events
                .stage(format!("{name}.merge"))
                .merge_with(vec![errors]),
            None => read.events,
        })
    }
}

/// How a replay ended.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// Every record read is final.
    Done,
    /// Stopped (Ctrl-C, SIGTERM) before the end.
    Stopped,
    /// The pipeline failed.
    Failed,
}

impl Outcome {
    /// The exit code, having said where the replay resumes (`place`) if it did not finish.
    fn exit_code(&self, place: &str) -> ExitCode {
        match self {
            Outcome::Done => ExitCode::SUCCESS,
            Outcome::Stopped => {
                eprintln!("stopped before the end; the replay resumes from {place} next time");
                ExitCode::SUCCESS
            }
            Outcome::Failed => {
                eprintln!("the replay resumes from {place} next time");
                ExitCode::FAILURE
            }
        }
    }
}

/// Runs the replay of what `reader` reads, and says how many records went where.
async fn run_replay(
    graph: &Graph,
    sink: &str,
    filter: &ReplayFilter,
    reader: &Reader,
) -> anyhow::Result<Outcome> {
    let name = format!("{sink}-replay");
    let pipeline = Pipeline::with_config(
        format!("replay of {sink}"),
        graph.spec.settings.pipeline_config().handle_signals(true),
    );
    let records = reader.records(&pipeline, &name)?;
    let built = graph
        .build_replay(pipeline, records, sink, filter)
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
            if to == sink {
                eprintln!(
                    "{} records kept as dead letters (left out by the filter, or raw bytes that still do not decode)",
                    stage.items_in
                );
            } else {
                eprintln!("{} records replayed into `{to}`", stage.items_in);
            }
        }
    }
    Ok(match result {
        Err(e) => {
            eprintln!("error: {e}");
            Outcome::Failed
        }
        Ok(_) if report.cancelled => Outcome::Stopped,
        Ok(_) => Outcome::Done,
    })
}

/// `path` with `suffix` added to its file name.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

/// What a replay would do with what `reader` reads (`what` names it): the records per
/// component they would go back to, and those that would stay.
async fn dry_run(
    graph: &Graph,
    sink: &str,
    filter: &ReplayFilter,
    reader: &Reader,
    what: &str,
) -> anyhow::Result<String> {
    let targets = graph.dead_letter_targets(sink);
    let filter = filter.clone();
    let (taken, kept) = summarize(reader, sink, 1, move |record| {
        let stage = record["stage"].as_str().unwrap_or_default();
        targets.iter().any(|t| t == component_of(stage)) && filter.takes(record)
    })
    .await?;
    Ok(format!(
        "would replay, from {what}:\n{}\nwould keep as dead letters:\n{}",
        taken.text("to replay"),
        kept.text("to keep")
    ))
}

/// Every record `reader` reads of the dead letters of `sink`, counted in two summaries (with
/// `samples` each per stage and error): those `takes` takes, and the others.
pub(super) async fn summarize(
    reader: &Reader,
    sink: &str,
    samples: usize,
    takes: impl Fn(&serde_json::Value) -> bool + Send + 'static,
) -> anyhow::Result<(Summary, Summary)> {
    let pipeline = Pipeline::new(format!("reading the dead letters of {sink}"));
    let records = reader.records(&pipeline, &format!("{sink}-read"))?;
    records
        .fold(
            (Summary::new(samples), Summary::new(samples)),
            move |(mut taken, mut kept), record| {
                let value = record.value();
                if takes(value) {
                    taken.add(value);
                } else {
                    kept.add(value);
                }
                (taken, kept)
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("cannot read the dead letters: {e}"))
}

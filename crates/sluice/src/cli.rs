//! The command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use sluice_config::draw::Format;

use crate::admin::AdminArgs;
use crate::commands::store::StoreArg;
use crate::commands::{dead_letters, graph, jobs, run, test, ui, validate, worker};
use crate::telemetry::LogFormat;

/// Sluice: move and process data concurrently.
#[derive(Debug, Parser)]
#[command(name = "sluice", version, about, propagate_version = true)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Command,
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub(crate) log_format: LogFormat,
    /// Print only warnings and errors, and no progress bar.
    #[arg(long, short, global = true)]
    pub(crate) quiet: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a pipeline until its sources end or Ctrl-C, then print a summary per stage.
    Run {
        /// The pipeline file.
        file: PathBuf,
        /// Override a setting: `--set transforms.enrich.workers=4`.
        #[arg(long = "set", value_name = "KEY.PATH=VALUE")]
        sets: Vec<String>,
        #[command(flatten)]
        admin: AdminArgs,
        /// Exit with status 3 if any event failed (went to an error output or was rejected).
        #[arg(long)]
        fail_on_dead: bool,
        /// Also run a worker, as this worker file says, in the same process, until the
        /// pipeline ends; the console (`--admin-addr`) then shows both.
        #[arg(long, value_name = "FILE")]
        worker: Option<PathBuf>,
        #[command(flatten)]
        store: StoreArg,
    },
    /// Check a pipeline file and report every problem, with file, line and column.
    Validate {
        /// The pipeline file.
        file: PathBuf,
        /// Override a setting, as for `run`.
        #[arg(long = "set", value_name = "KEY.PATH=VALUE")]
        sets: Vec<String>,
    },
    /// Print a pipeline's graph.
    Graph {
        /// The pipeline file.
        file: PathBuf,
        /// Drawing format.
        #[arg(long, value_enum, default_value_t = GraphFormat::Mermaid)]
        format: GraphFormat,
    },
    /// Run the tests written in a pipeline file's `tests` section.
    Test {
        /// The pipeline file.
        file: PathBuf,
    },
    /// See what a pipeline's dead letters hold.
    DeadLetters(dead_letters::DeadLettersArgs),
    /// Enqueue, inspect and manage durable jobs.
    Jobs(jobs::JobsArgs),
    /// Run jobs: claim them from the store and run their handlers until Ctrl-C or SIGTERM.
    Worker(worker::WorkerArgs),
    /// Watch a running process's pipelines (its `--admin-addr`): every component's events per
    /// second, errors, queue and busy ratio, refreshed every second, the bottleneck marked.
    Top(crate::live::top::TopArgs),
    /// Print a live sample of the events leaving a component of a running pipeline, as JSON
    /// lines (needs the admin token).
    Tap(crate::live::tap::TapArgs),
    /// Serve the web console over a job store (queues, jobs, schedules, workers), with no
    /// worker running.
    Ui(ui::UiCommandArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum GraphFormat {
    Mermaid,
    Dot,
}

/// Runs the command; the exit code says how it went.
pub(crate) async fn execute(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Run {
            file,
            sets,
            admin,
            fail_on_dead,
            worker,
            store,
        } => {
            let worker = worker.map(|file| (file, store));
            run::run(
                &file,
                &sets,
                &admin,
                worker.as_ref(),
                fail_on_dead,
                args.quiet,
            )
            .await
        }
        Command::Validate { file, sets } => validate::validate(&file, &sets),
        Command::Graph { file, format } => graph::graph(
            &file,
            match format {
                GraphFormat::Mermaid => Format::Mermaid,
                GraphFormat::Dot => Format::Dot,
            },
        ),
        Command::Test { file } => test::test(&file).await,
        Command::Jobs(args) => jobs::jobs(args).await,
        Command::DeadLetters(args) => dead_letters::dead_letters(args).await,
        Command::Worker(args) => worker::worker(args).await,
        Command::Ui(args) => ui::ui(args).await,
        Command::Top(args) => crate::live::top::top(args).await,
        Command::Tap(args) => crate::live::tap::tap(args).await,
    }
}

//! The command line.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use sluice_config::draw::Format;
use sluice_config::{Diagnostics, Graph};
use sluice_core::{Pipeline, PipelineConfig};

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
        /// Serve `/metrics` and `/health` on this address, such as `127.0.0.1:9598`.
        #[arg(long)]
        admin_addr: Option<SocketAddr>,
        /// Exit with status 3 if any event failed (went to an error output or was rejected).
        #[arg(long)]
        fail_on_dead: bool,
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
    /// Enqueue, inspect and manage durable jobs.
    Jobs(crate::jobs::JobsArgs),
    /// Run jobs: claim them from the store and run their handlers until Ctrl-C or SIGTERM.
    Worker(crate::jobs::WorkerArgs),
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
            admin_addr,
            fail_on_dead,
        } => run(&file, &sets, admin_addr, fail_on_dead, args.quiet).await,
        Command::Validate { file, sets } => Ok(match load(&file, &sets)? {
            Ok(graph) => {
                let count = |kind| {
                    graph
                        .spec
                        .components
                        .iter()
                        .filter(|c| c.kind == kind)
                        .count()
                };
                use sluice_config::spec::Kind;
                println!(
                    "{}: ok ({} sources, {} transforms, {} sinks)",
                    file.display(),
                    count(Kind::Source),
                    count(Kind::Transform),
                    count(Kind::Sink)
                );
                ExitCode::SUCCESS
            }
            Err(problems) => report(&problems),
        }),
        Command::Graph { file, format } => Ok(match load(&file, &[])? {
            Ok(graph) => {
                print!(
                    "{}",
                    graph.draw(match format {
                        GraphFormat::Mermaid => Format::Mermaid,
                        GraphFormat::Dot => Format::Dot,
                    })
                );
                ExitCode::SUCCESS
            }
            Err(problems) => report(&problems),
        }),
        Command::Test { file } => test(&file).await,
        Command::Jobs(jobs) => crate::jobs::jobs(jobs).await,
        Command::Worker(worker) => crate::jobs::worker(worker).await,
    }
}

/// Prints every problem; exit status 1.
pub(crate) fn report(problems: &Diagnostics) -> ExitCode {
    eprint!("{problems}");
    eprintln!(
        "{} problem{} found",
        problems.0.len(),
        if problems.0.len() == 1 { "" } else { "s" }
    );
    ExitCode::FAILURE
}

/// Reads and checks a pipeline file (the outer error is for files that cannot be read).
fn load(file: &Path, sets: &[String]) -> anyhow::Result<Result<Graph, Diagnostics>> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let name = file.display().to_string();
    let env = |var: &str| std::env::var(var).ok();
    Ok(sluice_config::load(&sluice_config::Source {
        file: &name,
        text: &text,
        sets,
        env: &env,
    }))
}

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

async fn run(
    file: &Path,
    sets: &[String],
    admin: Option<SocketAddr>,
    fail_on_dead: bool,
    quiet: bool,
) -> anyhow::Result<ExitCode> {
    let graph = match load(file, sets)? {
        Ok(graph) => graph,
        Err(problems) => return Ok(report(&problems)),
    };
    if let Some(addr) = admin {
        crate::admin::serve(addr).await?;
    }
    let built = graph
        .build(pipeline_for(&graph, file))
        .map_err(|e| anyhow::anyhow!("cannot start the pipeline: {e}"))?;
    let bar = (!quiet && std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .then(|| crate::progress::show(&built.progress))
        .flatten();
    let pipeline = built.pipeline.clone();
    let result = pipeline.run().await;
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

async fn test(file: &Path) -> anyhow::Result<ExitCode> {
    let graph = match load(file, &[])? {
        Ok(graph) => graph,
        Err(problems) => return Ok(report(&problems)),
    };
    let results = match graph.run_tests().await {
        Ok(results) => results,
        Err(problems) => return Ok(report(&problems)),
    };
    if results.is_empty() {
        println!("{}: no tests", file.display());
        return Ok(ExitCode::SUCCESS);
    }
    let mut failed = 0;
    for result in &results {
        if result.passed() {
            println!("PASS {}", result.name);
        } else {
            failed += 1;
            println!("FAIL {}", result.name);
            for failure in &result.failures {
                for line in failure.lines() {
                    println!("    {line}");
                }
            }
        }
    }
    println!("{} passed, {failed} failed", results.len() - failed);
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

//! `sluice worker`: runs jobs as a worker file says, until Ctrl-C or SIGTERM.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args as ClapArgs;
use sluice_config::worker::WorkerSettings;
use sluice_jobs::{JobState, Store, Worker};

use super::problems::report;
use super::store::{StoreArg, open};
use crate::admin::AdminArgs;

/// `sluice worker`.
#[derive(Debug, ClapArgs)]
pub(crate) struct WorkerArgs {
    #[command(flatten)]
    store: StoreArg,
    /// The worker file (store, queues, kinds and their handlers, schedules, retention).
    #[arg(long, short, env = "SLUICE_WORKER_CONFIG")]
    config: Option<PathBuf>,
    /// Override a setting of the worker file: `--set queues.default.concurrency=20`.
    #[arg(long = "set", value_name = "KEY.PATH=VALUE")]
    sets: Vec<String>,
    #[command(flatten)]
    admin: AdminArgs,
    /// Stop (gracefully) once the served queues have no available, running or retryable job.
    #[arg(long)]
    exit_when_idle: bool,
}

/// A worker as its file says, over its store, ready to run.
pub(crate) struct Prepared {
    /// The worker.
    pub(crate) worker: Worker,
    /// Its store.
    pub(crate) store: Arc<dyn Store>,
    /// The queues it serves.
    pub(crate) queues: Vec<String>,
    /// The worker file's settings.
    pub(crate) settings: WorkerSettings,
}

/// Reads the worker file `config` (with `sets`), opens its store (`store` over the file's),
/// and builds the worker; `Err` with the exit code once the file's problems are reported.
pub(crate) async fn prepare(
    config: Option<&Path>,
    sets: &[String],
    store: &StoreArg,
) -> anyhow::Result<Result<Prepared, ExitCode>> {
    let settings = match WorkerSettings::read(config, sets) {
        Ok(settings) => settings,
        Err(problems) => return Ok(Err(report(&problems))),
    };
    let store = open(store, settings.file.store.as_deref()).await?;
    let worker = match settings.worker(store.clone()) {
        Ok(builder) => builder.build()?,
        Err(problems) => return Ok(Err(report(&problems))),
    };
    let queues: Vec<String> = if settings.queues.is_empty() {
        vec![sluice_jobs::job::default_queue()]
    } else {
        settings.queues.iter().map(|q| q.name.clone()).collect()
    };
    Ok(Ok(Prepared {
        worker,
        store,
        queues,
        settings,
    }))
}

/// Runs `worker` until `stop` resolves, then says what it did.
pub(crate) async fn work(worker: Worker, stop: impl std::future::Future) {
    let report = worker.run_until(stop).await;
    eprintln!(
        "worker stopped: {} succeeded, {} failed attempts, {} dead, {} cancelled, {} released",
        report.succeeded, report.failed, report.dead, report.cancelled, report.released
    );
}

/// Runs `sluice worker`.
pub(crate) async fn worker(args: WorkerArgs) -> anyhow::Result<ExitCode> {
    let admin = args.admin.bind().await?;
    let prepared = match prepare(args.config.as_deref(), &args.sets, &args.store).await? {
        Ok(prepared) => prepared,
        Err(code) => return Ok(code),
    };
    let traces = crate::traces::start(prepared.settings.file.tracing.as_ref(), &|name| {
        std::env::var(name).ok()
    })?;
    if let Some(admin) = admin {
        admin.serve(Some(prepared.store.clone()), Vec::new());
    }
    let (store, queues) = (prepared.store, prepared.queues);
    let exit_when_idle = args.exit_when_idle;
    work(prepared.worker, async move {
        tokio::select! {
            () = super::shutdown_signal() => {}
            () = idle(store, queues), if exit_when_idle => {}
        }
    })
    .await;
    if let Some(traces) = traces {
        traces.stop().await;
    }
    Ok(ExitCode::SUCCESS)
}

/// Resolves once `queues` have no available (in a queue that runs), running or retryable job
/// (checked twice, 200 ms apart, so a job between two states is not missed).
async fn idle(store: Arc<dyn Store>, queues: Vec<String>) {
    let mut quiet = 0;
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let busy = match store.queue_stats().await {
            Ok(stats) => stats.iter().filter(|s| queues.contains(&s.queue)).any(|s| {
                let runs = s.paused_since.is_none();
                [JobState::Available, JobState::Running, JobState::Retryable]
                    .iter()
                    .filter(|&&state| runs || state != JobState::Available)
                    .any(|state| s.counts.get(state.as_str()).is_some_and(|&n| n > 0))
            }),
            Err(_) => true,
        };
        quiet = if busy { 0 } else { quiet + 1 };
        if quiet >= 2 {
            return;
        }
    }
}

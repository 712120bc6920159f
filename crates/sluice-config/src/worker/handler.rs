//! What runs a kind of job, as a worker file says: a command (`exec`), an HTTP request
//! (`http`), or a pipeline file (`pipeline`, [`PipelineHandler`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use serde::Deserialize;
use sluice_core::Pipeline;
use sluice_event::{Event, Origin, Position};
use sluice_jobs::handlers::{Command, ExecHandler, HttpHandler};
use sluice_jobs::worker::{Action, Handler, HandlerError, JobContext, KindConfig, WorkerBuilder};

use crate::graph::Graph;
use crate::load::{Source, load};

/// What runs a kind of job.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum HandlerSpec {
    /// Runs a command with the job's arguments (JSON) on standard input; exit status 0 is
    /// success. A string runs through `sh -c`; a list is the program and its arguments.
    Exec {
        /// The command.
        command: Command,
        /// More environment variables.
        #[serde(default)]
        env: BTreeMap<String, String>,
    },
    /// POSTs the job's arguments (JSON) to a URL; a 2xx answer is success.
    Http {
        /// Where.
        url: String,
        /// More headers.
        #[serde(default)]
        headers: BTreeMap<String, String>,
        /// How long to wait for the answer. Defaults to `30s`.
        #[serde(
            default = "thirty_seconds",
            deserialize_with = "sluice_event::duration::deserialize"
        )]
        timeout: Duration,
    },
    /// Runs a pipeline file with the job's arguments as the only event of its only source;
    /// success when the pipeline ends with no failed event.
    Pipeline {
        /// The pipeline file, relative to the worker file.
        path: PathBuf,
    },
}

fn thirty_seconds() -> Duration {
    Duration::from_secs(30)
}

impl HandlerSpec {
    /// Gives `builder` the handler of jobs of `kind`, run as `config` says, with paths
    /// relative to `dir`; a pipeline file is read and checked now. Returns the builder, and
    /// what is wrong if the handler could not be made.
    pub fn install(
        &self,
        builder: WorkerBuilder,
        kind: &str,
        config: KindConfig,
        dir: &Path,
    ) -> (WorkerBuilder, Result<(), String>) {
        let installed = match self {
            HandlerSpec::Exec { command, env } => {
                builder.handler_with(kind, ExecHandler::new(command.clone(), env.clone()), config)
            }
            HandlerSpec::Http {
                url,
                headers,
                timeout,
            } => match HttpHandler::new(url.clone(), headers.clone(), *timeout) {
                Ok(handler) => builder.handler_with(kind, handler, config),
                Err(e) => return (builder, Err(format!("cannot make an HTTP client: {e}"))),
            },
            HandlerSpec::Pipeline { path } => match PipelineHandler::read(kind, &dir.join(path)) {
                Ok(handler) => builder.handler_with(kind, handler, config),
                Err(message) => return (builder, Err(message)),
            },
        };
        (installed, Ok(()))
    }
}

/// Runs a pipeline per job: the job's arguments are the one event of the pipeline's source;
/// the attempt fails if any event fails in the pipeline. The event continues the attempt's
/// trace through the pipeline's stages.
#[derive(Clone)]
pub struct PipelineHandler {
    name: String,
    graph: Arc<Graph>,
}

impl PipelineHandler {
    /// The pipeline of the file at `path`, read and checked, for jobs of `kind`.
    pub fn read(kind: &str, path: &Path) -> Result<PipelineHandler, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read pipeline {}: {e}", path.display()))?;
        let name = path.display().to_string();
        let env = |var: &str| std::env::var(var).ok();
        let graph = load(&Source {
            file: &name,
            text: &text,
            sets: &[],
            env: &env,
        })
        .map_err(|problems| format!("pipeline {name} has problems:\n{problems}"))?;
        Ok(PipelineHandler {
            name: kind.to_owned(),
            graph: Arc::new(graph),
        })
    }
}

impl Handler for PipelineHandler {
    fn run(&self, job: JobContext) -> BoxFuture<'static, Result<Action, HandlerError>> {
        let this = self.clone();
        Box::pin(async move { this.run_one(&job).await })
    }
}

impl PipelineHandler {
    async fn run_one(&self, job: &JobContext) -> Result<Action, HandlerError> {
        let pipeline = Pipeline::new(format!("{}#{}", self.name, job.job().id));
        let event = Event::new(job.args().clone()).with_origin(Arc::new(Origin {
            source: Arc::from(self.name.as_str()),
            position: Position::None,
            trace: job
                .traceparent()
                .and_then(sluice_core::trace::parse)
                .map(Box::new),
        }));
        let built = self.graph.build_fed(pipeline, vec![event])?;
        let report = tokio::select! {
            report = built.pipeline.run() => report?,
            () = job.cancelled() => return Err("stopped".into()),
        };
        let failed: u64 = report.stages.iter().map(|s| s.errors).sum();
        if failed > 0 {
            return Err(format!("{failed} events failed in the pipeline").into());
        }
        Ok(Action::Complete)
    }
}

//! The handlers a worker file can name: `exec`, `http` and `pipeline`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;

use sluice_config::Graph;
use sluice_core::Pipeline;
use sluice_event::Event;
use sluice_jobs::{Action, HandlerError, JobContext};
use tokio::io::AsyncWriteExt;

use super::config::{CommandSpec, HandlerSpec};

/// The most of a failed command's standard error, or a failed request's answer, kept as the
/// attempt's error.
const ERROR_TAIL: usize = 2000;

/// Makes the handler a worker file describes for `kind`; pipeline files are read and checked
/// now, so a mistake stops the worker before it claims anything.
pub(crate) fn build(kind: &str, spec: &HandlerSpec, dir: &Path) -> anyhow::Result<Handler> {
    Ok(match spec {
        HandlerSpec::Exec { command, env } => Handler::Exec {
            command: command.clone(),
            env: env.clone(),
        },
        HandlerSpec::Http {
            url,
            headers,
            timeout,
        } => Handler::Http {
            url: url.clone(),
            headers: headers.clone(),
            client: sluice_connect::http::client(*timeout)
                .map_err(|e| anyhow::anyhow!("kind `{kind}`: cannot make an HTTP client: {e}"))?,
        },
        HandlerSpec::Pipeline { path } => {
            let path = dir.join(path);
            let text = std::fs::read_to_string(&path).map_err(|e| {
                anyhow::anyhow!(
                    "kind `{kind}`: cannot read pipeline {}: {e}",
                    path.display()
                )
            })?;
            let name = path.display().to_string();
            let env = |var: &str| std::env::var(var).ok();
            let graph = sluice_config::load(&sluice_config::Source {
                file: &name,
                text: &text,
                sets: &[],
                env: &env,
            })
            .map_err(|problems| {
                anyhow::anyhow!("kind `{kind}`: pipeline {name} has problems:\n{problems}")
            })?;
            Handler::Pipeline {
                name: kind.to_owned(),
                graph: Arc::new(graph),
            }
        }
    })
}

/// A handler from a worker file.
#[derive(Clone)]
pub(crate) enum Handler {
    Exec {
        command: CommandSpec,
        env: BTreeMap<String, String>,
    },
    Http {
        url: String,
        headers: BTreeMap<String, String>,
        client: reqwest::Client,
    },
    Pipeline {
        name: String,
        graph: Arc<Graph>,
    },
}

impl Handler {
    /// Runs one attempt of `job`.
    pub(crate) async fn run(self, job: JobContext) -> Result<Action, HandlerError> {
        match self {
            Handler::Exec { command, env } => exec(&command, &env, &job).await,
            Handler::Http {
                url,
                headers,
                client,
            } => http(&client, &url, &headers, &job).await,
            Handler::Pipeline { name, graph } => pipeline(&name, &graph, &job).await,
        }
    }
}

async fn exec(
    command: &CommandSpec,
    env: &BTreeMap<String, String>,
    job: &JobContext,
) -> Result<Action, HandlerError> {
    let mut cmd = match command {
        CommandSpec::Shell(line) => {
            let mut cmd = tokio::process::Command::new("sh");
            cmd.arg("-c").arg(line);
            cmd
        }
        CommandSpec::Argv(argv) => {
            let Some((program, args)) = argv.split_first() else {
                return Err("the command is an empty list".into());
            };
            let mut cmd = tokio::process::Command::new(program);
            cmd.args(args);
            cmd
        }
    };
    let meta = job.job();
    cmd.envs(env)
        .env("SLUICE_JOB_ID", meta.id.to_string())
        .env("SLUICE_JOB_KIND", &meta.kind)
        .env("SLUICE_JOB_QUEUE", &meta.queue)
        .env("SLUICE_JOB_ATTEMPT", meta.attempt.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start the command: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        let input = serde_json::to_vec(job.args())?;
        // A command that does not read its input closes the pipe: not an error.
        let _ = stdin.write_all(&input).await;
        drop(stdin);
    }
    let output = tokio::select! {
        output = child.wait_with_output() => output?,
        () = job.cancelled() => return Err("stopped".into()),
    };
    if output.status.success() {
        return Ok(Action::Complete);
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let status = output.status.code().map_or_else(
        || "was killed by a signal".to_owned(),
        |code| format!("exited with status {code}"),
    );
    Err(format!("the command {status}: {}", tail(stderr.trim())).into())
}

async fn http(
    client: &reqwest::Client,
    url: &str,
    headers: &BTreeMap<String, String>,
    job: &JobContext,
) -> Result<Action, HandlerError> {
    let meta = job.job();
    let mut request = client
        .post(url)
        .header("content-type", "application/json")
        .header("x-sluice-job-id", meta.id.to_string())
        .header("x-sluice-job-kind", &meta.kind)
        .header("x-sluice-job-attempt", meta.attempt.to_string())
        .body(serde_json::to_vec(job.args())?);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = request.send().await?;
    let status = response.status();
    if status.is_success() {
        return Ok(Action::Complete);
    }
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(std::time::Duration::from_secs);
    if let (Some(delay), 429 | 503) = (retry_after, status.as_u16()) {
        return Ok(Action::RetryAfter(delay));
    }
    let body = response.text().await.unwrap_or_default();
    Err(format!("{url} answered {status}: {}", tail(body.trim())).into())
}

async fn pipeline(name: &str, graph: &Graph, job: &JobContext) -> Result<Action, HandlerError> {
    let pipeline = Pipeline::new(format!("{name}#{}", job.job().id));
    let built = graph.build_fed(pipeline, vec![Event::new(job.args().clone())])?;
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

/// The end of `text`, at most [`ERROR_TAIL`] bytes.
fn tail(text: &str) -> &str {
    let mut start = text.len().saturating_sub(ERROR_TAIL);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

//! The `exec` handler: runs a command with the job's arguments (JSON) on its standard input;
//! exit status 0 is success. The command sees the job in `SLUICE_JOB_ID`, `SLUICE_JOB_KIND`,
//! `SLUICE_JOB_QUEUE` and `SLUICE_JOB_ATTEMPT`, and, with tracing on, the attempt's span in
//! `TRACEPARENT`; the tail of its standard error is the error of a failed attempt. A command
//! that succeeds and prints one JSON value returns it as the job's result. A cancelled job's
//! command is killed.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde::Deserialize;
use tokio::io::AsyncWriteExt;

use super::{succeeded, tail};
use crate::worker::{Action, Handler, HandlerError, JobContext};

/// A command: one string for the shell, or a program and its arguments.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Command {
    /// Run by `sh -c`.
    Shell(String),
    /// A program and its arguments.
    Argv(Vec<String>),
}

/// Runs a command per job. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct ExecHandler {
    inner: Arc<(Command, BTreeMap<String, String>)>,
}

impl ExecHandler {
    /// Runs `command`, with `env` added to its environment.
    pub fn new(command: Command, env: BTreeMap<String, String>) -> ExecHandler {
        ExecHandler {
            inner: Arc::new((command, env)),
        }
    }
}

impl Handler for ExecHandler {
    fn run(&self, job: JobContext) -> BoxFuture<'static, Result<Action, HandlerError>> {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move { exec(&inner.0, &inner.1, &job).await })
    }
}

async fn exec(
    command: &Command,
    env: &BTreeMap<String, String>,
    job: &JobContext,
) -> Result<Action, HandlerError> {
    let mut cmd = match command {
        Command::Shell(line) => {
            let mut cmd = tokio::process::Command::new("sh");
            cmd.arg("-c").arg(line);
            cmd
        }
        Command::Argv(argv) => {
            let Some((program, args)) = argv.split_first() else {
                return Err("the command is an empty list".into());
            };
            let mut cmd = tokio::process::Command::new(program);
            cmd.args(args);
            cmd
        }
    };
    let meta = job.job();
    if let Some(traceparent) = job.traceparent() {
        cmd.env("TRACEPARENT", traceparent);
    }
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
        return Ok(succeeded(&output.stdout));
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let status = output.status.code().map_or_else(
        || "was killed by a signal".to_owned(),
        |code| format!("exited with status {code}"),
    );
    Err(format!("the command {status}: {}", tail(stderr.trim())).into())
}

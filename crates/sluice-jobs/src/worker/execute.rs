//! Running a claimed job: its handler under the kind's timeout, a panic kept to its job, and
//! what the attempt's end means for the job.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use serde_json::value::RawValue;
use tokio::sync::{OwnedSemaphorePermit, mpsc};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::handler::{Action, HandlerError, JobContext, KindConfig};
use super::state::{Inner, Running, Slots, Stop};
use crate::clock::after;
use crate::job::{Job, attempt_limit};
use crate::metrics::{self, Event};
use crate::store::{Completion, Outcome};
use crate::trace;

/// How an attempt ended, before it is recorded.
enum Ended {
    Returned(Result<Action, HandlerError>),
    Panicked(String),
    TimedOut(Duration),
    Stopped(Stop),
    NoHandler,
}

impl Ended {
    /// The kind of error of an attempt that failed (its span's `error.type`).
    fn error_type(&self) -> Option<&'static str> {
        match self {
            Ended::Returned(Ok(Action::RetryAfter(_))) => Some("retry_after"),
            Ended::Returned(Err(_)) => Some("handler_error"),
            Ended::Panicked(_) => Some("panic"),
            Ended::TimedOut(_) => Some("timeout"),
            Ended::NoHandler => Some("no_handler"),
            Ended::Returned(Ok(_)) | Ended::Stopped(_) => None,
        }
    }
}

/// A finished attempt on its way to the store, with its recording slot, given back once it is
/// recorded. A worker holds at most, per queue, twice its concurrency plus its prefetch in jobs
/// claimed, running, or finished and not yet recorded: that bounds what runs again if it is
/// killed.
pub(crate) type Finished = (Completion, OwnedSemaphorePermit);

/// Runs one claimed job once a running slot is free, and sends how its attempt ended.
pub(super) async fn execute(
    inner: &Inner,
    job: Job,
    slots: &Slots,
    done: &mpsc::UnboundedSender<Finished>,
) {
    let job = Arc::new(job);
    let token = CancellationToken::new();
    let stop = Arc::new(OnceLock::new());
    let running_now = {
        let mut running = inner
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        running.insert(
            job.id,
            Running {
                token: token.clone(),
                stop: stop.clone(),
            },
        );
        running.len()
    };
    metrics::running(&job.queue, running_now);
    metrics::job_event(&job.queue, &job.kind, Event::Claimed);
    // A prefetched job waits here for a slot; a stop (shutdown deadline, cancellation, lost
    // lease) may come first.
    let slot = tokio::select! {
        biased;
        () = token.cancelled() => None,
        slot = slots.running.clone().acquire_owned() => slot.ok(),
    };
    let now = inner.clock.now();
    let wait = (now - job.run_at).to_std().unwrap_or_default();
    metrics::waited(&job.queue, wait);
    inner.tally.waited(&job.queue, now, wait);
    let started = Instant::now();
    let attempt = trace::attempt(&job, &inner.name);
    let log_span = attempt
        .as_ref()
        .map_or_else(tracing::Span::none, trace::Attempt::log_span);
    let config = inner.kinds.get(&job.kind);
    let ended = match (slot, config) {
        (None, _) => Ended::Stopped(stop.get().copied().unwrap_or(Stop::Shutdown)),
        (Some(_), None) => Ended::NoHandler,
        (Some(_slot), Some((handler, config))) => {
            let context = JobContext::new(
                job.clone(),
                inner.store.clone(),
                token.clone(),
                attempt.as_ref().and_then(trace::Attempt::traceparent),
            );
            let mut task = tokio::spawn(handler.run(context).instrument(log_span.clone()));
            let timeout = async {
                match config.timeout {
                    Some(limit) => tokio::time::sleep(limit).await,
                    None => std::future::pending().await,
                }
            };
            // A stop comes first: a handler that returns because it saw its job cancelled has
            // not finished the job.
            let ended = tokio::select! {
                biased;
                () = token.cancelled() => Ended::Stopped(stop.get().copied().unwrap_or(Stop::Shutdown)),
                result = &mut task => match result {
                    Ok(returned) => Ended::Returned(returned),
                    Err(e) if e.is_panic() => Ended::Panicked(panic_message(e.into_panic().as_ref())),
                    Err(_) => Ended::Stopped(Stop::Shutdown),
                },
                () = timeout => Ended::TimedOut(config.timeout.unwrap_or_default()),
            };
            if !task.is_finished() {
                token.cancel();
                task.abort();
            }
            ended
        }
    };
    metrics::ran(&job.queue, &job.kind, started.elapsed());
    let running_now = {
        let mut running = inner
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        running.remove(&job.id);
        running.len()
    };
    metrics::running(&job.queue, running_now);
    let (ended, result) = take_result(ended, inner.max_result_size);
    let error_type = ended.error_type();
    let outcome = log_span.in_scope(|| outcome(inner, &job, ended, config.map(|(_, c)| c)));
    if let Some(attempt) = attempt {
        attempt.end(outcome.as_ref(), error_type);
    }
    let Some(outcome) = outcome else {
        return;
    };
    let discard = inner.keeps_none(&job.queue, &job.kind, outcome.state());
    let completion = Completion {
        id: job.id,
        worker: inner.name.clone(),
        outcome,
        discard,
        result,
    };
    if let Ok(recording) = slots.recording.clone().acquire_owned().await {
        let _ = done.send((completion, recording));
    }
}

/// Takes the result out of a handler's [`Action::CompleteWith`], as the JSON text the store
/// keeps: the attempt then ended as [`Action::Complete`] with that result, or failed if the
/// result is over `limit` bytes.
fn take_result(ended: Ended, limit: usize) -> (Ended, Option<Box<RawValue>>) {
    let Ended::Returned(Ok(Action::CompleteWith(result))) = ended else {
        return (ended, None);
    };
    let error = match serde_json::value::to_raw_value(&result) {
        Ok(text) if text.get().len() <= limit => {
            return (Ended::Returned(Ok(Action::Complete)), Some(text));
        }
        Ok(text) => format!(
            "the handler's result is {} bytes of JSON, over the worker's limit of {limit} \
             (max_result_size)",
            text.get().len()
        ),
        Err(e) => format!("the handler's result cannot be written as JSON: {e}"),
    };
    (Ended::Returned(Err(error.into())), None)
}

/// What to record for an attempt that ended so; `None` when the job is no longer this
/// worker's.
fn outcome(inner: &Inner, job: &Job, ended: Ended, config: Option<&KindConfig>) -> Option<Outcome> {
    let now = inner.clock.now();
    let counters = &inner.counters;
    let event = |e: Event, counter: &AtomicU64| {
        metrics::job_event(&job.queue, &job.kind, e);
        counter.fetch_add(1, Ordering::Relaxed);
    };
    let failed = |error: String, delay: Option<Duration>| {
        event(Event::Failed, &counters.failed);
        inner.tally.failed(&job.queue, now);
        let allowed = attempt_limit(job.max_attempts, config.and_then(|c| c.max_attempts));
        let retry_at = (job.attempt < allowed).then(|| {
            let delay = delay.unwrap_or_else(|| {
                config
                    .map(|c| c.backoff)
                    .unwrap_or_else(|| KindConfig::default().backoff)
                    .delay(job.attempt)
            });
            after(now, delay)
        });
        if retry_at.is_some() {
            metrics::job_event(&job.queue, &job.kind, Event::Retried);
        } else {
            event(Event::Dead, &counters.dead);
        }
        tracing::warn!(job = job.id, kind = %job.kind, attempt = job.attempt, %error, ?retry_at, "job attempt failed");
        Outcome::Failed { error, retry_at }
    };
    Some(match ended {
        Ended::Returned(Ok(Action::Complete | Action::CompleteWith(_))) => {
            event(Event::Succeeded, &counters.succeeded);
            inner.tally.succeeded(&job.queue, now);
            Outcome::Succeeded
        }
        Ended::Returned(Ok(Action::RetryAfter(delay))) => failed(
            format!("the handler asked to retry after {delay:?}"),
            Some(delay),
        ),
        Ended::Returned(Ok(Action::Snooze(delay))) => {
            event(Event::Snoozed, &counters.snoozed);
            Outcome::Snoozed {
                until: after(now, delay),
            }
        }
        Ended::Returned(Ok(Action::Cancel(reason))) => {
            event(Event::Cancelled, &counters.cancelled);
            Outcome::Cancelled { reason }
        }
        Ended::Returned(Err(error)) => failed(error_chain(error.as_ref()), None),
        Ended::Panicked(message) => failed(format!("the handler panicked: {message}"), None),
        Ended::TimedOut(limit) => failed(format!("timed out after {limit:?}"), None),
        Ended::NoHandler => failed(
            format!("this worker has no handler for kind `{}`", job.kind),
            None,
        ),
        Ended::Stopped(Stop::Cancelled) => {
            event(Event::Cancelled, &counters.cancelled);
            Outcome::Cancelled {
                reason: "cancelled by request".to_owned(),
            }
        }
        Ended::Stopped(Stop::Shutdown) => {
            event(Event::Released, &counters.released);
            Outcome::Released
        }
        Ended::Stopped(Stop::LostLease) => {
            counters.lost.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                job = job.id,
                "lost the job's lease (it was rescued); its handler was stopped"
            );
            return None;
        }
    })
}

/// An error and its sources, `outer: inner: innermost`.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned())
}

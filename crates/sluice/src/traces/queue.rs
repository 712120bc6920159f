//! The queue between the spans ended and the thread that exports them: bounded, and waking
//! the exporter once per full batch (or after a second), not once per span, since a wake-up
//! costs more than a span.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry::Context;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{Span, SpanData, SpanProcessor};
use tokio::sync::Notify;

use super::otlp::Exporter;
use super::{dropped, exported};

/// Spans waiting for export at most; past it new spans are dropped.
const QUEUE: usize = 4096;
/// Spans sent in one export at most.
const BATCH: usize = 512;
/// How long spans wait for more to fill a batch.
const LINGER: Duration = Duration::from_secs(1);
/// How long one export may take before its spans are dropped.
pub(super) const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// The span processor: ended spans into the bounded queue, or counted as dropped. Its clone
/// (the same queue) is the exporting thread's end.
#[derive(Debug, Clone, Default)]
pub(super) struct Queue {
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    pending: Mutex<Pending>,
    /// Told when a batch is full and when the queue closes.
    ready: Notify,
}

#[derive(Debug, Default)]
struct Pending {
    spans: Vec<SpanData>,
    closed: bool,
}

impl Queue {
    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.shared
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The spans queued, and whether the queue is closed (no more will come).
    fn take(&self) -> (Vec<SpanData>, bool) {
        let mut pending = self.pending();
        (std::mem::take(&mut pending.spans), pending.closed)
    }
}

impl SpanProcessor for Queue {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        let mut pending = self.pending();
        if pending.closed || pending.spans.len() >= QUEUE {
            drop(pending);
            dropped("queue_full", 1);
            return;
        }
        pending.spans.push(span);
        if pending.spans.len() == BATCH {
            self.shared.ready.notify_one();
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        if std::mem::replace(&mut self.pending().closed, true) {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        self.shared.ready.notify_one();
        Ok(())
    }
}

/// Sends the queued spans in batches, each time a batch is full or a second has passed, until
/// the queue closes and is empty.
pub(super) async fn export(mut exporter: Exporter, queued: Queue) {
    let mut failing = false;
    loop {
        let _ = tokio::time::timeout(LINGER, queued.shared.ready.notified()).await;
        let (spans, closed) = queued.take();
        for batch in spans.chunks(BATCH) {
            send(&mut exporter, batch, &mut failing).await;
        }
        if closed {
            return;
        }
    }
}

/// Sends one batch, counting it exported or dropped, and saying when the collector stops
/// and starts taking spans.
async fn send(exporter: &mut Exporter, batch: &[SpanData], failing: &mut bool) {
    let count = batch.len() as u64;
    let failure = match tokio::time::timeout(EXPORT_TIMEOUT, exporter.export(batch)).await {
        Ok(Ok(())) => None,
        Ok(Err(error)) => Some(error),
        Err(_) => Some(format!("no answer within {EXPORT_TIMEOUT:?}")),
    };
    match failure {
        None => {
            exported(count);
            if std::mem::take(failing) {
                tracing::info!("the trace collector takes spans again");
            }
        }
        Some(error) => {
            dropped("export_failed", count);
            if !std::mem::replace(failing, true) {
                tracing::warn!(%error, "cannot send spans to the collector; dropping them until it takes them again");
            }
        }
    }
}

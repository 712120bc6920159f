//! Sources: the [`Source`] trait, what a source is given ([`SourceContext`]) and gives back
//! ([`BuiltSource`]), and what sources share.
//!
//! A byte-oriented source (file, stdin, HTTP, brokers) reads records and hands them to a decode
//! stage named after it; records that do not decode go to the source's error output
//! (`NAME.errors` in a pipeline file) as [dead-letter records](sluice_event::dead_letter).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::StreamExt;
use sluice_core::{Acked, BoxError, Flow, Operators, Pipeline};
use tokio::sync::mpsc;
#[cfg(any(
    feature = "kafka",
    feature = "redis",
    feature = "nats",
    feature = "amqp",
    feature = "postgres",
    feature = "jobs"
))]
use tokio_util::sync::CancellationToken;
use tokio_util::sync::DropGuard;

use sluice_event::Event;
use sluice_event::codec::{Codec, DecodeError, Record};

/// A source type's configured instance.
pub trait Source: Send + Sync {
    /// What the options' types cannot catch: every problem. Defaults to none.
    fn check(&self) -> Vec<super::OptionError> {
        Vec::new()
    }

    /// Whether it has an error output (it decodes bytes). Defaults to yes.
    fn has_errors(&self) -> bool {
        true
    }

    /// Whether it connects to a service and reconnects when that fails, so that a circuit
    /// breaker may guard its connection. Defaults to no.
    fn reconnects(&self) -> bool {
        false
    }

    /// Adds the source's stages to the pipeline.
    fn build(&self, ctx: &SourceContext) -> Result<BuiltSource, BoxError>;
}

/// What a source needs from the pipeline it joins.
#[derive(Debug, Clone)]
pub struct SourceContext {
    /// The pipeline.
    pub pipeline: Pipeline,
    /// The component's name.
    pub name: String,
    /// Whether something reads the source's error output; if not, bad records are counted and
    /// logged.
    pub errors_wired: bool,
    /// The circuit breaker on the source's connection to its service, if any (sources that
    /// [reconnect](Source::reconnects) only).
    pub breaker: Option<sluice_core::CircuitBreaker>,
}

/// A source, built.
pub struct BuiltSource {
    /// The events.
    pub events: Flow<Event>,
    /// Dead-letter records of what did not decode, if asked for.
    pub errors: Option<Flow<Event>>,
    /// How far through a finite input the source is, when that is known.
    pub progress: Option<Progress>,
}

/// Progress through a finite input.
#[derive(Debug, Clone)]
pub struct Progress {
    done: Arc<AtomicU64>,
    total: u64,
    unit: &'static str,
}

impl Progress {
    pub(crate) fn new(total: u64, unit: &'static str) -> Progress {
        Progress {
            done: Arc::new(AtomicU64::new(0)),
            total,
            unit,
        }
    }

    /// What is counted: `bytes` or `events`.
    pub fn unit(&self) -> &'static str {
        self.unit
    }

    pub(crate) fn advance(&self, bytes: u64) {
        self.done.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Units done so far.
    pub fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }

    /// Units in all.
    pub fn total(&self) -> u64 {
        self.total
    }
}

/// Why a source could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// The glob pattern is malformed.
    #[error("`{pattern}` is not a valid path pattern: {reason}")]
    Pattern {
        /// The pattern.
        pattern: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Nothing matches the path, and the source does not wait for files to appear.
    #[error("no file matches `{0}` (set `follow: true` to wait for files to appear)")]
    NoFiles(String),
    /// The checkpoint file could not be read.
    #[error("cannot read checkpoint `{path}`: {reason}")]
    Checkpoint {
        /// Its path.
        path: String,
        /// Why.
        reason: String,
    },
    /// A listening address could not be bound.
    #[error("cannot listen on {address}: {reason}")]
    Bind {
        /// The address.
        address: String,
        /// Why.
        reason: String,
    },
}

/// Feeds batches of records from a reader thread into a flow, then decodes them. `stop`, if
/// given, is cancelled when the source stage ends (the pipeline downstream is gone).
pub(crate) fn decoded(
    ctx: &SourceContext,
    records: mpsc::Receiver<Vec<Acked<Record>>>,
    codec: Codec,
    stop: Option<DropGuard>,
) -> (Flow<Event>, Option<Flow<Event>>) {
    let batches = futures::stream::unfold((records, stop), |(mut rx, stop)| async move {
        rx.recv()
            .await
            .map(|batch| (futures::stream::iter(batch), (rx, stop)))
    })
    .flatten();
    // The reader stops on shutdown by itself, after saving its checkpoint; the source ends
    // when it does.
    let raw = ctx
        .pipeline
        .source(&ctx.name)
        .drain_on_shutdown()
        .from_acked_stream(batches);
    decode(ctx, raw, codec)
}

/// A broker source built: `reader` is given the channel of records and the token that stops
/// it (on shutdown, or when the source stage has ended), and runs as a task of the pipeline,
/// so that the run ends only once the reader has finished its last chores (a final commit,
/// leaving a consumer group).
#[cfg(any(
    feature = "kafka",
    feature = "redis",
    feature = "nats",
    feature = "amqp",
    feature = "postgres",
    feature = "jobs"
))]
pub(crate) fn from_reader<Fut>(
    ctx: &SourceContext,
    codec: Codec,
    reader: impl FnOnce(mpsc::Sender<Vec<Acked<Record>>>, CancellationToken) -> Fut,
) -> BuiltSource
where
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(4);
    let stop = ctx.pipeline.cancel_token().child_token();
    ctx.pipeline.spawn(
        Arc::from(format!("{} reader", ctx.name)),
        reader(tx, stop.clone()),
    );
    let (events, errors) = decoded(ctx, rx, codec, Some(stop.drop_guard()));
    BuiltSource {
        events,
        errors,
        progress: None,
    }
}

/// Acknowledges finished records at their store, in batches: the ids sent to it are handed to
/// `ack` up to 1,000 at a time, until every sender is gone. A batch that fails is logged; its
/// records stay unacknowledged and are read again (at least once).
#[cfg(any(feature = "redis", feature = "postgres"))]
pub(crate) struct Acknowledger {
    tx: mpsc::UnboundedSender<String>,
    task: tokio::task::JoinHandle<()>,
}

#[cfg(any(feature = "redis", feature = "postgres"))]
impl Acknowledger {
    /// Starts acknowledging with `ack`.
    pub(crate) fn spawn<F, Fut>(mut ack: F) -> Acknowledger
    where
        F: FnMut(Vec<String>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<(), BoxError>> + Send,
    {
        let (tx, mut rx) = mpsc::unbounded_channel::<String>();
        let task = tokio::spawn(async move {
            let mut ids = Vec::new();
            while rx.recv_many(&mut ids, 1000).await > 0 {
                let records = ids.len();
                if let Err(err) = ack(std::mem::take(&mut ids)).await {
                    tracing::warn!(%err, records, "cannot acknowledge finished records; they will be read again");
                }
            }
        });
        Acknowledger { tx, task }
    }

    /// Where a record's token sends its id once the record is final.
    pub(crate) fn sender(&self) -> mpsc::UnboundedSender<String> {
        self.tx.clone()
    }

    /// Waits until every id sent is acknowledged: once every other sender (the reader's, the
    /// records' tokens) is gone too, as the pipeline drains.
    pub(crate) async fn finished(self) {
        drop(self.tx);
        let _ = self.task.await;
    }
}

/// The trace context of a message a broker source read (see [`sluice_core::trace::receive`]):
/// the span of source `source` receiving it from `destination` (a topic, subject, queue or
/// stream) of `system`, under the context the message's `traceparent` header names.
#[cfg(any(
    feature = "kafka",
    feature = "redis",
    feature = "nats",
    feature = "amqp",
    feature = "jobs"
))]
pub(crate) fn received(
    source: &str,
    (system, destination): (&'static str, &str),
    traceparent: impl FnOnce() -> Option<String>,
) -> Option<Box<sluice_core::trace::SpanContext>> {
    use sluice_core::trace::{KeyValue, SpanKind};
    sluice_core::trace::receive(source, SpanKind::Consumer, traceparent, || {
        vec![
            KeyValue::new("messaging.system", system),
            KeyValue::new("messaging.operation.type", "receive"),
            KeyValue::new("messaging.destination.name", destination.to_owned()),
        ]
    })
}

/// The decode stage of a byte-oriented source.
pub(crate) fn decode(
    ctx: &SourceContext,
    raw: Flow<Record>,
    codec: Codec,
) -> (Flow<Event>, Option<Flow<Event>>) {
    let stage = raw
        .stage(format!("{}.decode", ctx.name))
        .traced(|record: &Record| record.origin.trace.as_deref());
    // A record heavier than the whole memory limit could never be sent on.
    let limit = ctx.pipeline.config().memory_limit;
    let decode = move |r: &Record| match limit {
        Some(limit) if r.bytes.len() > limit => Err(DecodeError::TooLarge {
            size: r.bytes.len(),
            limit,
        }),
        _ => codec.decode(r),
    };
    if ctx.errors_wired {
        let (errors, failed) = ctx.pipeline.error_output::<Record>();
        let events = stage.errors_to(errors).try_map(decode);
        let dead = failed
            .stage(format!("{}.errors", ctx.name))
            .map(|f| sluice_event::dead_letter::from_record(&f));
        (events, Some(dead))
    } else {
        (stage.try_map(decode), None)
    }
}

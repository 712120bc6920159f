//! Errors: why a pipeline run failed ([`Error`]) and why one item failed ([`ItemError`],
//! carried by a [`Failed`] record to the stage's error output).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A boxed error from user code.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a pipeline run failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Shutdown was requested and these stages had not drained when the deadline passed; they
    /// were aborted and their items reported unfinished to their origins.
    #[error("shutdown deadline of {deadline:?} passed with stages still running: {}", stages.join(", "))]
    ShutdownTimeout {
        /// The deadline that passed.
        deadline: Duration,
        /// Stages that were still running.
        stages: Vec<String>,
    },
    /// A stage's task died outside any user function (a bug in a stage, not in an item).
    #[error("stage `{stage}` crashed: {message}")]
    StageCrashed {
        /// The stage.
        stage: String,
        /// The panic message.
        message: String,
    },
    /// A terminal was added after its pipeline had started, so it never ran.
    #[error("a stage was added to pipeline `{0}` after it started running, so it did not run")]
    NotRun(String),
}

/// Why one item failed in a stage.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ItemError {
    /// The user function returned an error.
    #[error(transparent)]
    User(BoxError),
    /// The user function panicked; the panic was contained to this item.
    #[error("panicked: {0}")]
    Panicked(String),
    /// An attempt took longer than the stage's timeout.
    #[error("timed out after {0:?}")]
    TimedOut(Duration),
    /// The stage's circuit breaker is open, so the call was not attempted.
    #[error("circuit breaker is open")]
    CircuitOpen,
    /// The item's event time is behind the watermark by more than the allowed lateness.
    #[error("late: event time {event_time_ms} ms is behind the watermark {watermark_ms} ms")]
    Late {
        /// The item's event time, in milliseconds since the Unix epoch.
        event_time_ms: i64,
        /// The watermark when it arrived.
        watermark_ms: i64,
    },
}

impl ItemError {
    /// Wraps any error from user code.
    pub fn user(err: impl Into<BoxError>) -> ItemError {
        ItemError::User(err.into())
    }

    /// The error and each of its sources, outermost first.
    pub fn chain(&self) -> Vec<String> {
        let mut out = vec![self.to_string()];
        let mut source = std::error::Error::source(self);
        while let Some(err) = source {
            out.push(err.to_string());
            source = err.source();
        }
        out
    }

    /// An error standing for `shared`, for when one failure fails several items.
    pub fn shared(shared: Arc<ItemError>) -> ItemError {
        ItemError::User(Box::new(SharedError(shared)))
    }

    pub(crate) fn from_panic(payload: &(dyn std::any::Any + Send)) -> ItemError {
        let message = if let Some(s) = payload.downcast_ref::<&str>() {
            (*s).to_owned()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "non-string panic payload".to_owned()
        };
        ItemError::Panicked(message)
    }
}

/// One error shared by several failed items; displays and chains as the error itself.
#[derive(Debug)]
struct SharedError(Arc<ItemError>);

impl fmt::Display for SharedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for SharedError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(self.0.as_ref())
    }
}

/// An item that a stage could not process, after its retry policy: what goes to the stage's
/// error output (and from there to a dead-letter sink).
pub struct Failed<T> {
    /// The item as the stage received it.
    pub item: T,
    /// The stage that failed it.
    pub stage: Arc<str>,
    /// The last attempt's error.
    pub error: ItemError,
    /// How many attempts were made.
    pub attempts: u32,
}

impl<T> Failed<T> {
    /// A failure of `item` in `stage` after `attempts` attempts.
    pub fn new(item: T, stage: Arc<str>, error: ItemError, attempts: u32) -> Failed<T> {
        Failed {
            item,
            stage,
            error,
            attempts,
        }
    }

    /// The error chain as one line: `outer: cause: root cause`.
    pub fn reason(&self) -> String {
        self.error.chain().join(": ")
    }
}

impl<T: fmt::Debug> fmt::Debug for Failed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Failed")
            .field("item", &self.item)
            .field("stage", &self.stage)
            .field("error", &self.reason())
            .field("attempts", &self.attempts)
            .finish()
    }
}

impl<T> fmt::Display for Failed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "stage `{}` failed after {} attempt{}: {}",
            self.stage,
            self.attempts,
            if self.attempts == 1 { "" } else { "s" },
            self.reason()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("connect failed")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn chain_lists_each_cause_once() {
        let err = ItemError::user(Outer(std::io::Error::other("refused")));
        assert_eq!(err.chain(), vec!["connect failed", "refused"]);
        let failed = Failed::new(1, Arc::from("call"), err, 3);
        assert_eq!(
            failed.to_string(),
            "stage `call` failed after 3 attempts: connect failed: refused"
        );
    }

    #[test]
    fn panic_payloads_become_messages() {
        let payload: Box<dyn std::any::Any + Send> = Box::new(String::from("boom"));
        assert_eq!(
            ItemError::from_panic(payload.as_ref()).to_string(),
            "panicked: boom"
        );
    }
}

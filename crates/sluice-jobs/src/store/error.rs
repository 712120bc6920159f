//! Why a store call failed.

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database or server could not be reached, or the connection broke. Workers back off
    /// and try again.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The store refused the request (a constraint, a malformed value).
    #[error("store rejected the request: {0}")]
    Rejected(String),
    /// The store's contents are not what this version expects (run `sluice jobs migrate`).
    #[error("store schema: {0}")]
    Schema(String),
    /// The address of the store is not understood.
    #[error("`{url}` is not a store address: {reason}")]
    Address {
        /// What was given.
        url: String,
        /// What is expected.
        reason: String,
    },
}

//! Files: the `file` source (globs, following, checkpoints) and sink, and the line reading the
//! `stdin` source shares.

mod checkpoint;
pub(crate) mod lines;
mod sink;
mod source;

pub use sink::{FileSink, WriteMode};
pub use source::FileSource;
pub(crate) use source::header_fields;

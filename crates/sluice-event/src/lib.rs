//! `sluice-event`: what flows through a declarative Sluice pipeline.
//!
//! An [`Event`] is a JSON value that keeps the bytes it was read from until a stage changes it,
//! with its [`Origin`] (the source and the [`Position`] inside it). [`codec`]s turn the bytes a
//! source reads into events and events into the bytes a sink writes; a record or event that
//! fails becomes a [`dead_letter`] record, the same for every source, stage and sink. The
//! [`duration`] and [`bytesize`] helpers read the durations (`250ms`) and byte sizes (`64KiB`)
//! of configuration files, and a [`secret::Secret`] holds a token or password that never prints.
//! [`weight`] says what events weigh in a pipeline bounded in bytes, and [`stored`] is an
//! event's binary form for a disk buffer.

pub mod bytesize;
pub mod codec;
pub mod dead_letter;
pub mod duration;
mod event;
pub mod secret;
pub mod stored;
pub mod weight;

pub use event::{Event, Field, FieldPaths, Origin, Position};

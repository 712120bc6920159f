//! `sluice-connect`: the sources and sinks of Sluice and the codecs they share.
//!
//! Every component is a config struct (deserialized from a pipeline file, each field's doc
//! saying its default) with a `build` that adds its stages to a [`sluice_core::Pipeline`].
//! Declarative pipelines move [`Event`]s: JSON values that keep their original bytes until a
//! stage changes them. Whatever fails (a line that is not JSON, a rejected write) becomes a
//! [dead-letter record](dead_letter) on the component's error output.
//!
//! The HTTP source and sink are behind the `http` feature (on by default).

pub mod bytesize;
pub mod codec;
pub mod dead_letter;
pub mod duration;
mod event;
pub mod health;
#[cfg(feature = "nats")]
mod nats;
#[cfg(feature = "postgres")]
mod postgres;
pub mod sink;
pub mod source;

pub use event::{Event, Field, FieldPaths, Origin, Position};

#[cfg(feature = "http")]
pub use sink::client as http_client;

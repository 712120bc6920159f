//! `sluice-connect`: the sources and sinks of Sluice.
//!
//! Every component is a config struct (deserialized from a pipeline file, each field's doc
//! saying its default) with a `build` that adds its stages to a [`sluice_core::Pipeline`].
//! Declarative pipelines move [events](sluice_event::Event): JSON values that keep their
//! original bytes until a stage changes them. Whatever fails (a line that is not JSON, a rejected write) becomes a
//! [dead-letter record](sluice_event::dead_letter) on the component's error output.
//!
//! The HTTP source and sink are behind the `http` feature (on by default).

pub mod error_output;
pub mod health;
#[cfg(feature = "nats")]
mod nats;
#[cfg(feature = "postgres")]
mod postgres;
pub mod sink;
pub mod source;

#[cfg(feature = "http")]
pub use sink::client as http_client;

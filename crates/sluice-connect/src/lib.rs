//! `sluice-connect`: every component of Sluice pipelines, the sources, transforms and sinks.
//!
//! A component type is declared in one place: a documented struct of its options (read from a
//! pipeline file, each field's doc saying its default, or built in Rust), the impl of its
//! kind's trait ([`Source`](component::Source), [`Transform`](component::Transform) or
//! [`Sink`](component::Sink)) that checks it and builds its stages on a
//! [`sluice_core::Pipeline`], one line in the [`registry`], and a cargo
//! feature when it needs a heavy dependency. Declarative pipelines move
//! [events](sluice_event::Event); whatever fails (a line that is not JSON, a rejected write)
//! becomes a [dead-letter record](sluice_event::dead_letter) on the component's error output.
//!
//! Components that talk to a service have a module of their own ([`kafka`], [`postgres`],
//! [`http`], …); the transforms that need none are in [`transform`].

#[cfg(feature = "amqp")]
pub mod amqp;
pub mod blackhole;
pub mod buffer;
pub mod component;
pub mod error_output;
pub mod file;
pub mod generator;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "jobs")]
pub mod jobs;
#[cfg(feature = "kafka")]
pub mod kafka;
#[cfg(feature = "nats")]
pub mod nats;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "redis")]
pub mod redis;
pub mod registry;
pub mod stdin;
pub mod stdout;
pub mod tls;
pub mod transform;

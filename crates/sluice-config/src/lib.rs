//! `sluice-config`: declarative Sluice pipelines.
//!
//! A pipeline file names its sources, transforms and sinks and wires them by `inputs`. This
//! crate parses such a file (keeping every key's line and column), checks it whole (reporting
//! every problem at once, with what to write instead), and builds it on the
//! [`sluice_core`] engine with the components of [`sluice_connect`] and the transforms here.

pub mod diagnostic;
pub mod interpolate;
pub mod jq;
pub mod node;

pub use diagnostic::{Diagnostic, Diagnostics, Loc};

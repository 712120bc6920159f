//! `sluice-config`: declarative Sluice pipelines.
//!
//! A pipeline file names its sources, transforms and sinks and wires them by `inputs`. This
//! crate parses such a file (keeping every key's line and column), checks it whole (reporting
//! every problem at once, with what to write instead), and builds it on the
//! [`sluice_core`] engine with the components of [`sluice_connect`]. It also runs the tests
//! written beside a pipeline ([`testing`]), draws its graph ([`draw`]), and reads the worker
//! files of durable jobs ([`worker`]) and their workflow and batch files ([`jobfile`]).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let text = r#"
//! sources:
//!   numbers: { type: generator, count: 5 }
//! transforms:
//!   odd: { type: filter, inputs: [numbers], condition: ".seq % 2 == 1" }
//! sinks:
//!   out: { type: blackhole, inputs: [odd] }
//! "#;
//! let source = sluice_config::Source { file: "example.yaml", text, sets: &[], env: &|_| None };
//! let graph = sluice_config::load(&source).expect("valid");
//! let built = graph.build(sluice_core::Pipeline::new("example")).expect("built");
//! let report = built.pipeline.run().await.expect("ran");
//! assert_eq!(report.stage("odd").map(|s| s.items_out), Some(2));
//! # }
//! ```

pub mod diagnostic;
pub mod draw;
mod graph;
pub mod interpolate;
pub mod jobfile;
mod load;
pub mod node;
pub mod replay;
mod settings;
pub mod spec;
pub mod testing;
pub mod worker;

pub use diagnostic::{Diagnostic, Diagnostics, Loc};
pub use graph::{Built, Graph};
pub use load::{Source, load, tree};

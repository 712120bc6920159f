//! The `sluice` subcommands, one file each, and what they share: reading a pipeline file,
//! printing problems, opening the job store.

pub(crate) mod graph;
pub(crate) mod jobs;
mod pipeline_file;
mod problems;
pub(crate) mod run;
mod store;
pub(crate) mod test;
pub(crate) mod validate;
pub(crate) mod worker;

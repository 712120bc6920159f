//! The job store that `sluice jobs` and `sluice worker` work on: named by `--store`,
//! `SLUICE_STORE` or the worker file, opened and migrated.

use std::sync::Arc;

use clap::Args as ClapArgs;
use sluice_jobs::Store;

/// The store used when none is named: a file in the current directory.
const DEFAULT_STORE: &str = "sqlite://sluice-jobs.db";

/// Where jobs are kept.
#[derive(Debug, Clone, ClapArgs)]
pub(crate) struct StoreArg {
    /// The store: `sqlite://PATH`, `postgres://USER@HOST/DB[?schema=NAME]` or
    /// `redis://HOST:PORT[?prefix=NAME]`. Defaults to `sqlite://sluice-jobs.db` (with a worker
    /// file, to its `store`).
    #[arg(long, env = "SLUICE_STORE", global = true)]
    pub(crate) store: Option<String>,
}

pub(crate) async fn open(
    store: &StoreArg,
    fallback: Option<&str>,
) -> anyhow::Result<Arc<dyn Store>> {
    let url = store.store.as_deref().or(fallback).unwrap_or(DEFAULT_STORE);
    let store = sluice_jobs::store::open(url).await?;
    Ok(store)
}

//! The Sluice web console: what an operator sees of running pipelines and of a job store, and
//! does to them, over HTTP.
//!
//! [`router`] serves a JSON API under `/api/v1/` (described by the OpenAPI document at
//! `/api/v1/openapi.json`) and the pages that use it (`/`), all built into the binary: no
//! asset is fetched from anywhere at run time. `sluice run --admin-addr` serves it over the
//! pipeline it runs (its live graph: [`live`]), `sluice worker --admin-addr` over its store,
//! both beside `/metrics`; `sluice ui --store URL` serves it alone, for any store.
//!
//! Reads are open to whoever reaches the address (which is `127.0.0.1` unless told otherwise).
//! Every request that changes something needs the admin token in an `Authorization: Bearer`
//! header; without a token configured the console is read-only. A header cannot be sent by
//! another site's form or script (no CORS is allowed), so requests forged from another origin
//! are refused by construction; an `Origin` or `Sec-Fetch-Site` naming another site is refused
//! as well. A live sample of a pipeline's events needs the token too: events may hold
//! personal data. The store's address and secrets are never shown.

mod api;
mod assets;
mod auth;
mod counts;
pub mod live;

use std::sync::Arc;

use axum::Router;
use sluice_jobs::Store;

pub use auth::Token;

/// What the console serves: running pipelines, a job store, or both, and the token that
/// allows changes (`None`: read-only).
#[derive(Clone)]
pub struct Console {
    jobs: Option<Jobs>,
    live: Option<Arc<live::Live>>,
    token: Option<Token>,
}

/// The job store shown, with its counts of a moment ago.
#[derive(Clone)]
struct Jobs {
    store: Arc<dyn Store>,
    counts: Arc<counts::Counts>,
}

impl Console {
    /// A console over nothing yet, read-only unless `token` is given.
    pub fn new(token: Option<Token>) -> Console {
        Console {
            jobs: None,
            live: None,
            token,
        }
    }

    /// Shows `store`'s queues, jobs, workers and schedules.
    #[must_use]
    pub fn store(mut self, store: Arc<dyn Store>) -> Console {
        self.jobs = Some(Jobs {
            store,
            counts: Arc::default(),
        });
        self
    }

    /// Shows `pipelines` as they run, sampled every second from now on (which needs a tokio
    /// runtime).
    #[must_use]
    pub fn pipelines(mut self, pipelines: Vec<live::LivePipeline>) -> Console {
        self.live = Some(live::Live::start(pipelines));
        self
    }

    /// The job store, or a 404 for a console over pipelines only.
    fn jobs(&self) -> Result<&Jobs, api::ApiError> {
        self.jobs
            .as_ref()
            .ok_or_else(|| api::ApiError::NotFound("this process has no job store".to_owned()))
    }
}

/// The console's routes: `/` and its assets, and `/api/v1/`.
pub fn router(console: Console) -> Router {
    api::router(console).merge(assets::router())
}

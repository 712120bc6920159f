//! The Sluice web console: what an operator sees of a job store and does to it, over HTTP.
//!
//! [`router`] serves a JSON API under `/api/v1/` (described by the OpenAPI document at
//! `/api/v1/openapi.json`) and the pages that use it (`/`), all built into the binary: no
//! asset is fetched from anywhere at run time. `sluice worker --admin-addr` serves it beside
//! `/metrics`; `sluice ui --store URL` serves it alone, for any store.
//!
//! Reads are open to whoever reaches the address (which is `127.0.0.1` unless told otherwise).
//! Every request that changes something needs the admin token in an `Authorization: Bearer`
//! header; without a token configured the console is read-only. A header cannot be sent by
//! another site's form or script (no CORS is allowed), so requests forged from another origin
//! are refused by construction; an `Origin` or `Sec-Fetch-Site` naming another site is refused
//! as well. The store's address and secrets are never shown.

mod api;
mod assets;
mod auth;
mod counts;

use std::sync::Arc;

use axum::Router;
use sluice_jobs::Store;

pub use auth::Token;

/// What the console serves: a store, and the token that allows changes (`None`: read-only).
#[derive(Clone)]
pub struct Console {
    store: Arc<dyn Store>,
    token: Option<Token>,
    counts: Arc<counts::Counts>,
}

impl Console {
    /// A console over `store`, read-only unless `token` is given.
    pub fn new(store: Arc<dyn Store>, token: Option<Token>) -> Console {
        Console {
            store,
            token,
            counts: Arc::default(),
        }
    }
}

/// The console's routes: `/` and its assets, and `/api/v1/`.
pub fn router(console: Console) -> Router {
    api::router(console).merge(assets::router())
}

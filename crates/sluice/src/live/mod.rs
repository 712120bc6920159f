//! Watching a running process from another terminal, through its admin server: `sluice top`
//! (every component's figures, refreshed every second) and `sluice tap` (a live sample of the
//! events leaving one).

mod client;
pub(crate) mod tap;
pub(crate) mod top;

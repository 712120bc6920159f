//! The worker's chores, each a loop beside the claim loops: renewing leases, rescuing jobs of
//! workers that vanished, firing schedules, pruning finished jobs, tidying the store, sampling
//! job counts, and reporting the worker to the store's registry.

mod heartbeat;
mod pruner;
mod registrar;
mod rescuer;
mod sampler;
mod scheduler;
mod tidier;

pub(super) use heartbeat::heartbeat_loop;
pub(super) use pruner::prune_loop;
pub(super) use registrar::register_loop;
pub(super) use rescuer::rescue_loop;
pub(super) use sampler::stats_loop;
pub(super) use scheduler::schedule_loop;
pub(super) use tidier::tidy_loop;

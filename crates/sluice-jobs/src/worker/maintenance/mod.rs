//! The worker's chores, each a loop beside the claim loops: renewing leases, rescuing jobs of
//! workers that vanished, firing schedules, pruning finished jobs, and sampling job counts.

mod heartbeat;
mod pruner;
mod rescuer;
mod sampler;
mod scheduler;

pub(super) use heartbeat::heartbeat_loop;
pub(super) use pruner::prune_loop;
pub(super) use rescuer::rescue_loop;
pub(super) use sampler::stats_loop;
pub(super) use scheduler::schedule_loop;

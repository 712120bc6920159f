//! `rate_limit`: holds events to a rate, either slowing the pipeline down (`wait`) or dropping
//! what exceeds it (`drop`, acknowledged as filtered and counted).

use std::time::Duration;

use serde::Deserialize;
use sluice_core::{BoxError, Flow, Operators, RateLimit};
use sluice_event::Event;

use crate::component::{OptionError, Transform, TransformContext, TransformOutputs};

/// What to do with events over the rate.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Excess {
    /// Wait for their turn: backpressure slows the sources. The default.
    #[default]
    Wait,
    /// Drop them.
    Drop,
}

/// The `rate_limit` transform.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitTransform {
    /// Events allowed per `per`.
    pub rate: u32,
    /// The period of `rate`. Defaults to `1s`.
    #[serde(
        default = "default_per",
        deserialize_with = "sluice_event::duration::deserialize"
    )]
    pub per: Duration,
    /// Events allowed at once after a quiet spell. Defaults to 1.
    #[serde(default = "default_burst")]
    pub burst: u32,
    /// `wait` or `drop`. Defaults to `wait`.
    #[serde(default)]
    pub on_excess: Excess,
}

fn default_per() -> Duration {
    Duration::from_secs(1)
}
fn default_burst() -> u32 {
    1
}

impl Transform for RateLimitTransform {
    fn check(&self) -> Vec<OptionError> {
        if self.rate == 0 {
            return vec![OptionError::new("rate", "`rate` must be at least 1")];
        }
        Vec::new()
    }

    fn build(
        &self,
        input: Flow<Event>,
        ctx: &TransformContext,
    ) -> Result<TransformOutputs, BoxError> {
        let limit = RateLimit::new(self.rate, self.per).burst(self.burst);
        let (stage, errors) = ctx.stage(input);
        let limited = match self.on_excess {
            Excess::Wait => stage.rate_limit(limit).call(1, |event: &Event| {
                std::future::ready(Ok::<_, BoxError>(event.clone()))
            }),
            Excess::Drop => stage.filter(move |_| limit.try_acquire()),
        };
        Ok(TransformOutputs::main(limited, errors))
    }
}

//! Kafka: the `kafka` source (a consumer group that commits only what is done) and sink (an
//! idempotent producer). With the `postgres` sink, Kafka → PostgreSQL is exactly once (see
//! [`crate::postgres`]).

mod offsets;
mod sink;
mod source;

pub use sink::KafkaSink;
pub use source::{ExactlyOnce, KafkaSource, KafkaStart};

//! Redis streams: the `redis_stream` source (a consumer group) and sink (`XADD`).

mod sink;
mod source;

pub use sink::RedisStreamSink;
pub use source::{RedisStreamSource, StreamStart};

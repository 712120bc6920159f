//! RabbitMQ (AMQP 0-9-1): the `amqp` source (a queue with manual acknowledgements) and sink
//! (an exchange, with publisher confirms).

mod sink;
mod source;

pub use sink::AmqpSink;
pub use source::AmqpSource;

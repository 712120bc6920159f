//! Helpers of the tests that use the Kafka-protocol broker at 127.0.0.1:9092
//! (`scripts/services.sh` starts one).

#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::Message;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

/// The broker.
pub const BROKERS: &str = "127.0.0.1:9092";

/// Creates `topic` with `partitions`.
pub fn create_topic(topic: &str, partitions: i32) {
    create_topic_with(&[("bootstrap.servers", BROKERS)], topic, partitions);
}

/// Creates `topic` with `partitions`, through a client with `settings`.
pub fn create_topic_with(settings: &[(&str, &str)], topic: &str, partitions: i32) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut config = ClientConfig::new();
        for (key, value) in settings {
            config.set(*key, *value);
        }
        let admin: AdminClient<DefaultClientContext> = config.create().expect("admin client");
        let results = admin
            .create_topics(
                &[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))],
                &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
            )
            .await
            .expect("create topic");
        for result in results {
            result.expect("topic created");
        }
    });
}

/// Produces `(key, value)` messages to `topic` and waits for the broker to have them all.
pub fn produce(topic: &str, messages: &[(String, String)]) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", BROKERS)
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .create()
        .expect("producer");
    for (key, value) in messages {
        let mut record = BaseRecord::to(topic).key(key).payload(value);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, back)) => {
                    record = back;
                    producer.poll(Duration::from_millis(10));
                }
            }
        }
    }
    producer
        .flush(Duration::from_secs(60))
        .expect("all messages delivered");
}

/// Every message of `topic`'s partition 0, read from the start until none comes for `quiet`.
pub fn read_all(topic: &str, quiet: Duration) -> Vec<String> {
    read_all_from(BROKERS, topic, quiet)
}

/// [`read_all`] from the broker at `brokers`.
pub fn read_all_from(brokers: &str, topic: &str, quiet: Duration) -> Vec<String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("{topic}-reader"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut list = rdkafka::TopicPartitionList::new();
    list.add_partition_offset(topic, 0, rdkafka::Offset::Beginning)
        .expect("partition");
    consumer.assign(&list).expect("assign");
    let mut out = Vec::new();
    while let Some(message) = consumer.poll(quiet) {
        let message = message.expect("message");
        out.push(String::from_utf8_lossy(message.payload().unwrap_or_default()).into_owned());
    }
    out
}

//! Any bytes as a record of each codec: decoding refuses what is not valid and never panics;
//! a JSON record that decodes is written back as JSON that decodes to the same value.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use sluice_event::codec::{Codec, Encoding, Record};
use sluice_event::{Origin, Position};

fuzz_target!(|data: &[u8]| {
    let origin = Arc::new(Origin {
        source: Arc::from("fuzz"),
        position: Position::Sequence(0),
    });
    let header: Arc<[String]> = Arc::from(vec!["a".to_owned(), "b".to_owned()]);
    for codec in [Codec::Json, Codec::Csv, Codec::Lines] {
        let record = Record {
            bytes: bytes::Bytes::copy_from_slice(data),
            origin: Arc::clone(&origin),
            header: Some(Arc::clone(&header)),
            refused: None,
        };
        let Ok(event) = codec.decode(&record) else {
            continue;
        };
        let mut written = Vec::new();
        Encoding::Json.encode(&event, &mut written);
        let again: serde_json::Value =
            serde_json::from_slice(&written).expect("an event is written as valid JSON");
        assert_eq!(&again, event.value(), "{codec:?} round trip");
    }
});

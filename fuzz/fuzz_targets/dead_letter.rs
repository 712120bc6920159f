//! Any bytes as a record that failed to decode: its dead-letter record is valid JSON that keeps
//! the bytes (as UTF-8, invalid sequences replaced), the stage, the error and the position.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use sluice_core::{Failed, ItemError};
use sluice_event::codec::{Encoding, Record};
use sluice_event::{Origin, Position};

fuzz_target!(|data: &[u8]| {
    let reason = String::from_utf8_lossy(data)
        .chars()
        .rev()
        .collect::<String>();
    let record = Record {
        bytes: bytes::Bytes::copy_from_slice(data),
        origin: Arc::new(Origin {
            source: Arc::from("fuzz"),
            position: Position::Sequence(7),
        }),
        header: None,
        refused: None,
    };
    let failed = Failed::new(
        record,
        Arc::from("fuzz.decode"),
        ItemError::user(reason.clone()),
        1,
    );
    let dead = sluice_event::dead_letter::from_record(&failed);
    let mut written = Vec::new();
    Encoding::Json.encode(&dead, &mut written);
    let back: serde_json::Value = serde_json::from_slice(&written).expect("valid JSON");
    assert_eq!(back["raw"], String::from_utf8_lossy(data).as_ref());
    assert_eq!(back["error"], reason.as_str());
    assert_eq!(back["stage"], "fuzz.decode");
    assert_eq!(back["position"]["sequence"], 7);
});

//! Any bytes as the body of a request to the `http` source, with each codec: the body is split
//! into records that are slices of it, each decoded or refused with a reason, and the counts
//! add up; nothing panics.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use sluice_connect::http::decode_body;
use sluice_event::codec::Codec;

fuzz_target!(|data: &[u8]| {
    let body = bytes::Bytes::copy_from_slice(data);
    let source: Arc<str> = Arc::from("hooks");
    for codec in [Codec::Json, Codec::Lines, Codec::Csv] {
        let decoded = decode_body(&body, codec, &source, u64::MAX, None);
        assert_eq!(decoded.accepted + decoded.refused, decoded.records.len());
        assert_eq!(decoded.reason.is_some(), decoded.refused > 0);
        let start = body.as_ptr() as usize;
        for record in &decoded.records {
            let at = record.bytes.as_ptr() as usize;
            assert!(
                record.bytes.is_empty() || (at >= start && at + record.bytes.len() <= start + body.len()),
                "a record is a slice of the body"
            );
            assert_eq!(record.refused.is_some(), codec.decode(record).is_err());
        }
    }
});

//! The framing of a disk buffer's records: each is a header and its payload, checksummed, so
//! that a torn or corrupt part of a segment is found, and the next whole record after it too.
//!
//! ```text
//! magic "SLB1" | seq: u64 LE | len: u32 LE | crc32(seq, len, payload): u32 LE | payload
//! ```
//!
//! Records are numbered without gaps by the writer: after a corrupt stretch, the number of the
//! next whole record says how many were lost.

/// The bytes every record starts with.
const MAGIC: [u8; 4] = *b"SLB1";

/// Bytes before the payload.
pub(crate) const HEADER: usize = 20;

/// The largest payload a record may have: a header claiming more is corrupt.
pub(crate) const MAX_PAYLOAD: usize = 1 << 30;

/// Appends the record `seq` to `out`, its payload written by `payload` (straight into `out`).
pub(crate) fn encode(seq: u64, out: &mut Vec<u8>, payload: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&[0; HEADER - 4]);
    payload(out);
    let len = u32::try_from(out.len() - start - HEADER).unwrap_or(u32::MAX);
    let crc = checksum(seq, len, &out[start + HEADER..]);
    out[start + 4..start + 12].copy_from_slice(&seq.to_le_bytes());
    out[start + 12..start + 16].copy_from_slice(&len.to_le_bytes());
    out[start + 16..start + 20].copy_from_slice(&crc.to_le_bytes());
}

fn checksum(seq: u64, len: u32, payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&seq.to_le_bytes());
    hasher.update(&len.to_le_bytes());
    hasher.update(payload);
    hasher.finalize()
}

/// What the bytes at the start of a buffer hold.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Parsed<'a> {
    /// A whole record, `size` bytes long with its header.
    Record {
        /// Its number.
        seq: u64,
        /// Its payload.
        payload: &'a [u8],
        /// Header and payload.
        size: usize,
    },
    /// The start of a record, cut short: `need` bytes in all would hold it.
    Incomplete {
        /// Bytes the whole record needs, when its header is there.
        need: Option<usize>,
    },
    /// Not a record: a wrong magic, an impossible length or a wrong checksum.
    Corrupt,
}

/// Reads the record at the start of `bytes`.
pub(crate) fn parse(bytes: &[u8]) -> Parsed<'_> {
    let Some(header) = bytes.get(..HEADER) else {
        return if bytes.len() < MAGIC.len() && MAGIC.starts_with(bytes) || bytes.starts_with(&MAGIC)
        {
            Parsed::Incomplete { need: None }
        } else {
            Parsed::Corrupt
        };
    };
    if header[..4] != MAGIC {
        return Parsed::Corrupt;
    }
    let seq = u64::from_le_bytes(array(&header[4..12]));
    let len = u32::from_le_bytes(array(&header[12..16]));
    let crc = u32::from_le_bytes(array(&header[16..20]));
    let size = HEADER + len as usize;
    if len as usize > MAX_PAYLOAD {
        return Parsed::Corrupt;
    }
    let Some(payload) = bytes.get(HEADER..size) else {
        return Parsed::Incomplete { need: Some(size) };
    };
    if checksum(seq, len, payload) != crc {
        return Parsed::Corrupt;
    }
    Parsed::Record { seq, payload, size }
}

fn array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0; N];
    out.copy_from_slice(bytes);
    out
}

/// The offset of the first whole record after the start of `bytes` (a corrupt stretch), or
/// `None` when `bytes` holds none.
pub(crate) fn resync(bytes: &[u8]) -> Option<usize> {
    let mut from = 1;
    while let Some(at) = memchr::memmem::find(bytes.get(from..)?, &MAGIC) {
        let start = from + at;
        if let Parsed::Record { .. } = parse(&bytes[start..]) {
            return Some(start);
        }
        from = start + 1;
    }
    None
}

/// How many records a damaged stretch held: the starts of records in it, and at least one.
pub(crate) fn damaged(bytes: &[u8]) -> u64 {
    let starts = memchr::memmem::find_iter(bytes, &MAGIC).count() as u64;
    starts.max(u64::from(!bytes.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(payloads: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for (seq, payload) in payloads.iter().enumerate() {
            encode(seq as u64 + 10, &mut out, |out| {
                out.extend_from_slice(payload);
            });
        }
        out
    }

    #[test]
    fn records_read_back_in_order() {
        let bytes = records(&[b"one", b"", b"three"]);
        let mut at = 0;
        let mut seen = Vec::new();
        while let Parsed::Record { seq, payload, size } = parse(&bytes[at..]) {
            seen.push((seq, payload.to_vec()));
            at += size;
        }
        assert_eq!(at, bytes.len());
        assert_eq!(
            seen,
            vec![
                (10, b"one".to_vec()),
                (11, Vec::new()),
                (12, b"three".to_vec())
            ]
        );
    }

    #[test]
    fn a_cut_record_is_incomplete_and_a_changed_byte_corrupt() {
        let bytes = records(&[b"payload"]);
        for cut in [1, 3] {
            assert_eq!(parse(&bytes[..cut]), Parsed::Incomplete { need: None });
        }
        assert_eq!(
            parse(&bytes[..HEADER + 2]),
            Parsed::Incomplete {
                need: Some(HEADER + 7)
            }
        );
        for at in [0, 5, 18, HEADER + 3] {
            let mut bad = bytes.clone();
            bad[at] ^= 0x40;
            assert_eq!(parse(&bad), Parsed::Corrupt, "byte {at} changed");
        }
        // A changed length claims more than there is: the reader tells that from a cut record
        // by what the segment holds.
        let mut longer = bytes.clone();
        longer[13] ^= 0x40;
        assert!(matches!(parse(&longer), Parsed::Incomplete { need: Some(n) } if n > bytes.len()));
    }

    #[test]
    fn resync_finds_the_next_whole_record() {
        let mut bytes = records(&[b"first", b"second", b"third"]);
        let second = HEADER + 5;
        bytes[HEADER + 1] ^= 0xff;
        assert_eq!(parse(&bytes), Parsed::Corrupt);
        assert_eq!(resync(&bytes), Some(second));
        // The magic inside a payload is not taken for a record.
        let mut tricky = Vec::new();
        encode(1, &mut tricky, |out| out.extend_from_slice(b"xxSLB1xx"));
        tricky[0] = b'X';
        assert_eq!(resync(&tricky), None);
    }
}

//! Which windows an item belongs to: pure arithmetic on millisecond timestamps.

/// A window `[start, end)` in milliseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Span {
    pub(crate) start: i64,
    pub(crate) end: i64,
}

/// The start of the window of `size` that holds `ts` (windows are aligned to the epoch).
fn floor_to(ts: i64, size: i64) -> i64 {
    ts - ts.rem_euclid(size)
}

/// The tumbling window of `size` that holds `ts`.
pub(crate) fn tumbling(ts: i64, size: i64) -> Span {
    let start = floor_to(ts, size);
    Span {
        start,
        end: start.saturating_add(size),
    }
}

/// Every sliding window of `size`, starting every `slide`, that holds `ts`, oldest first.
pub(crate) fn sliding(ts: i64, size: i64, slide: i64) -> impl Iterator<Item = Span> {
    let last_start = floor_to(ts, slide);
    let count = (size + slide - 1) / slide;
    (0..count).rev().filter_map(move |k| {
        let start = last_start - k * slide;
        let end = start.saturating_add(size);
        (start <= ts && ts < end).then_some(Span { start, end })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tumbling_aligns_to_epoch_including_negative_times() {
        assert_eq!(tumbling(0, 10), Span { start: 0, end: 10 });
        assert_eq!(tumbling(19, 10), Span { start: 10, end: 20 });
        assert_eq!(tumbling(-1, 10), Span { start: -10, end: 0 });
    }

    #[test]
    fn sliding_lists_every_window_holding_the_time() {
        let spans: Vec<_> = sliding(12, 10, 5).collect();
        assert_eq!(
            spans,
            vec![Span { start: 5, end: 15 }, Span { start: 10, end: 20 }]
        );
        let spans: Vec<_> = sliding(10, 10, 3).collect();
        assert_eq!(
            spans,
            vec![
                Span { start: 3, end: 13 },
                Span { start: 6, end: 16 },
                Span { start: 9, end: 19 },
            ]
        );
    }

    #[test]
    fn sliding_with_gaps_between_windows() {
        assert_eq!(
            sliding(7, 5, 10).count(),
            0,
            "7 falls between [0,5) and [10,15)"
        );
        assert_eq!(
            sliding(12, 5, 10).collect::<Vec<_>>(),
            vec![Span { start: 10, end: 15 }]
        );
    }
}

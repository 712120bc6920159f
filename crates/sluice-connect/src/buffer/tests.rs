use std::sync::{Arc, Mutex};

use sluice_core::{Operators, Pipeline, PipelineConfig, Sink, WriteError};
use sluice_event::{Event, Origin, Position};

use super::*;

fn events(range: std::ops::Range<u64>) -> Vec<Event> {
    range
        .map(|i| {
            Event::new(serde_json::json!({ "n": i, "pad": "x".repeat(40) })).with_origin(Arc::new(
                Origin {
                    source: "numbers".into(),
                    position: Position::Sequence(i),
                    trace: None,
                },
            ))
        })
        .collect()
}

/// Keeps what it is given, or, while `down`, refuses every write as a passing failure.
#[derive(Clone, Default)]
struct Kept {
    seen: Arc<Mutex<Vec<u64>>>,
    down: bool,
}

impl Kept {
    fn numbers(&self) -> Vec<u64> {
        self.seen.lock().expect("lock").clone()
    }
}

impl Sink<Event> for Kept {
    async fn write(&mut self, events: &[Event]) -> Result<(), WriteError> {
        if self.down {
            return Err(WriteError::Batch("down".into()));
        }
        let mut seen = self.seen.lock().expect("lock");
        seen.extend(
            events
                .iter()
                .map(|e| e.value()["n"].as_u64().unwrap_or(u64::MAX)),
        );
        Ok(())
    }
}

fn config(dir: &std::path::Path) -> DiskBuffer {
    DiskBuffer {
        path: dir.to_owned(),
        max_size: 64 << 20,
        when_full: WhenFull::Block,
    }
}

/// Runs `input` through the buffer in `dir` into `sink`; a sink that is down is given up on
/// after a short shutdown.
async fn run(input: Vec<Event>, buffer: &DiskBuffer, sink: Kept) {
    let pipeline = Pipeline::with_config(
        "buffered",
        PipelineConfig::default().shutdown_timeout(Duration::from_millis(200)),
    );
    let down = sink.down;
    let flow = disk_buffer(pipeline.from_iter(input), "out", buffer).expect("opens");
    flow.stage("out")
        .retry(Retry::forever().backoff(Backoff::constant(Duration::from_millis(5))))
        .sink(sink);
    if down {
        let stop = pipeline.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            stop.shutdown();
        });
    }
    let _ = pipeline.run().await;
    // The writes a shutdown aborted let go of the buffer as their tasks are dropped, just
    // after the run ends.
    let lock = std::fs::File::open(buffer.path.join("lock")).expect("lock file");
    for _ in 0..500 {
        if lock.try_lock().is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the buffer is still held after the run");
}

fn segments(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found: Vec<_> = std::fs::read_dir(dir)
        .expect("dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    found.sort();
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_pass_through_in_order_with_their_origin_and_are_not_sent_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let buffer = config(dir.path());
    let sink = Kept::default();
    run(events(0..5000), &buffer, sink.clone()).await;
    assert_eq!(sink.numbers(), (0..5000).collect::<Vec<_>>());
    let again = Kept::default();
    run(Vec::new(), &buffer, again.clone()).await;
    assert!(again.numbers().is_empty(), "every record was final");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_down_sink_did_not_take_is_delivered_after_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let buffer = DiskBuffer {
        // Small segments: several are written, and removed once delivered.
        max_size: 1 << 20,
        ..config(dir.path())
    };
    let down = Kept {
        down: true,
        ..Kept::default()
    };
    // Each run appends to the last segment, or starts the next when it would grow past 128 KiB.
    for from in [0, 1000, 2000] {
        run(events(from..from + 1000), &buffer, down.clone()).await;
    }
    assert!(segments(dir.path()).len() > 1, "the events span segments");
    let sink = Kept::default();
    run(events(3000..4000), &buffer, sink.clone()).await;
    assert_eq!(sink.numbers(), (0..4000).collect::<Vec<_>>());
    assert_eq!(
        segments(dir.path()).len(),
        1,
        "delivered segments are removed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torn_tail_is_cut_and_a_corrupt_record_skipped_losing_only_those() {
    let dir = tempfile::tempdir().expect("tempdir");
    let buffer = config(dir.path());
    let down = Kept {
        down: true,
        ..Kept::default()
    };
    run(events(0..100), &buffer, down).await;
    let [segment] = segments(dir.path()).try_into().expect("one segment");
    let mut bytes = std::fs::read(&segment).expect("read");
    let size = bytes.len() / 100;
    // Record 10's payload gets a changed byte; record 99 loses its last 7 bytes.
    bytes[10 * size + HEADER + 5] ^= 0x20;
    bytes.truncate(bytes.len() - 7);
    std::fs::write(&segment, &bytes).expect("write");
    let sink = Kept::default();
    run(events(100..110), &buffer, sink.clone()).await;
    let expected: Vec<u64> = (0..110).filter(|n| *n != 10 && *n != 99).collect();
    assert_eq!(sink.numbers(), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_buffer_drops_the_newest_when_told_to() {
    let dir = tempfile::tempdir().expect("tempdir");
    let buffer = DiskBuffer {
        max_size: 64 << 10,
        when_full: WhenFull::DropNewest,
        ..config(dir.path())
    };
    let down = Kept {
        down: true,
        ..Kept::default()
    };
    run(events(0..5000), &buffer, down).await;
    let kept: u64 = segments(dir.path())
        .iter()
        .map(|p| std::fs::metadata(p).expect("meta").len())
        .sum();
    assert!(kept <= 64 << 10, "{kept} bytes kept");
    let sink = Kept::default();
    run(Vec::new(), &buffer, sink.clone()).await;
    let got = sink.numbers();
    assert!(!got.is_empty() && got.len() < 5000, "{} kept", got.len());
    assert_eq!(
        got,
        (0..got.len() as u64).collect::<Vec<_>>(),
        "the oldest are kept"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buffer_is_used_by_one_process_at_a_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_held, _) = Files::open(dir.path(), 1 << 20).expect("opens");
    let err = Files::open(dir.path(), 1 << 20).err().expect("refused");
    assert!(err.to_string().contains("in use"), "{err}");
}

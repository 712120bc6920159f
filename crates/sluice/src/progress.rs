//! A progress bar on the terminal for inputs of known size.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use sluice_connect::component::Progress;

/// Draws progress until the returned bar is finished.
pub(crate) fn show(progress: &[(String, Progress)]) -> Option<ProgressBar> {
    let (name, first) = progress.first()?;
    let unit = first.unit();
    let same: Vec<&Progress> = progress
        .iter()
        .map(|(_, p)| p)
        .filter(|p| p.unit() == unit)
        .collect();
    let total: u64 = same.iter().map(|p| p.total()).sum();
    let bar = ProgressBar::new(total);
    let template = if unit == "bytes" {
        "{spinner} {msg} [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})"
    } else {
        "{spinner} {msg} [{bar:40}] {pos}/{len} events ({per_sec}, {eta})"
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(if progress.len() == 1 {
        name.clone()
    } else {
        format!("{} sources", progress.len())
    });
    let counters: Vec<Progress> = same.into_iter().cloned().collect();
    let updating = bar.clone();
    tokio::spawn(async move {
        while !updating.is_finished() {
            updating.set_position(counters.iter().map(Progress::done).sum());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    Some(bar)
}

//! `sluice top [ADDR]`: a terminal view of a running process's pipelines and job queues,
//! refreshed every second from its admin server: each component's events in and out per
//! second, errors, dead letters, input queue, busy ratio and latency, the bottleneck marked;
//! each queue's jobs by state, jobs done in the last minute, wait and workers. Components sort
//! by any column; plain text on any terminal, so it works over SSH. When the address does not
//! answer it says so and keeps trying.

use std::process::ExitCode;
use std::time::Duration;

use ratatui::Frame;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Row, Table, Wrap};
use serde_json::Value;
use tokio::sync::mpsc;

use super::client::{AdminClient, DEFAULT_ADDR};

/// What `sluice top` is given.
#[derive(Debug, clap::Args)]
pub(crate) struct TopArgs {
    /// The admin address of the running process (its `--admin-addr`): `HOST:PORT` or an
    /// `http(s)://` address.
    #[arg(default_value = DEFAULT_ADDR)]
    addr: String,
}

/// The columns, with the field each sorts by (`None`: the file's order).
const COLUMNS: &[(&str, Option<&str>)] = &[
    ("COMPONENT", None),
    ("TYPE", None),
    ("IN/s", Some("in_per_sec")),
    ("OUT/s", Some("out_per_sec")),
    ("ERRORS/s", Some("errors_per_sec")),
    ("DEAD", Some("dead_letters")),
    ("QUEUE", Some("queue_depth")),
    ("BUSY", Some("busy")),
    ("P50", Some("p50_ms")),
    ("P99", Some("p99_ms")),
];

/// What is on the screen.
struct View {
    addr: String,
    /// The last overview read, and when.
    last: Option<(Value, chrono::DateTime<chrono::Local>)>,
    /// The last queues read, when the process has a job store.
    queues: Vec<Value>,
    /// Why the last read failed, if it did.
    error: Option<String>,
    /// The column sorted by (an index of [`COLUMNS`]; 0: the file's order), and whether the
    /// smallest come first.
    sort: usize,
    ascending: bool,
}

/// Runs `sluice top` until `q`, Esc or Ctrl-C.
pub(crate) async fn top(args: TopArgs) -> anyhow::Result<ExitCode> {
    let client = AdminClient::new(&args.addr, None)?;
    let mut view = View {
        addr: client.base().to_owned(),
        last: None,
        queues: Vec::new(),
        error: None,
        sort: 0,
        ascending: false,
    };
    let (events_tx, mut events) = mpsc::unbounded_channel();
    // Reading the terminal blocks: a thread of its own, for as long as the process lives.
    std::thread::spawn(move || {
        while let Ok(event) = event::read() {
            if events_tx.send(event).is_err() {
                return;
            }
        }
    });
    let mut terminal = ratatui::init();
    let mut every = tokio::time::interval(Duration::from_secs(1));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let outcome = loop {
        tokio::select! {
            _ = every.tick() => {
                let limit = Duration::from_millis(900);
                let (overview, queues) = tokio::join!(
                    client.json("/api/v1/pipelines", limit),
                    client.json("/api/v1/queues", limit)
                );
                match overview {
                    Ok(overview) => {
                        view.last = Some((overview, chrono::Local::now()));
                        view.error = None;
                    }
                    Err(message) => view.error = Some(message),
                }
                // A process without a job store answers 404: it has no queues to show.
                view.queues = queues
                    .ok()
                    .and_then(|q| q["queues"].as_array().cloned())
                    .unwrap_or_default();
            }
            event = events.recv() => match event {
                Some(Event::Key(key)) if key.kind == KeyEventKind::Press => match key.code {
                    KeyCode::Char('q') | KeyCode::Esc => break Ok(ExitCode::SUCCESS),
                    KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                        break Ok(ExitCode::SUCCESS)
                    }
                    KeyCode::Char('s') | KeyCode::Right => view.sort = next_sort(view.sort, 1),
                    KeyCode::Left => view.sort = next_sort(view.sort, COLUMNS.len() - 1),
                    KeyCode::Char('r') => view.ascending = !view.ascending,
                    _ => continue,
                },
                Some(_) => {}
                None => break Ok(ExitCode::SUCCESS),
            },
        }
        if let Err(e) = terminal.draw(|frame| draw(frame, &view)) {
            break Err(anyhow::anyhow!("cannot draw on the terminal: {e}"));
        }
    };
    ratatui::restore();
    outcome
}

/// The column `step` places on from `sort` (`1`: the next, `COLUMNS.len() - 1`: the one
/// before) among those that sort, the first (the file's order) included.
fn next_sort(sort: usize, step: usize) -> usize {
    let mut next = sort;
    loop {
        next = (next + step) % COLUMNS.len();
        if next == 0 || COLUMNS[next].1.is_some() {
            return next;
        }
    }
}

fn draw(frame: &mut Frame<'_>, view: &View) {
    let pipelines: Vec<Value> = view
        .last
        .as_ref()
        .and_then(|(o, _)| o["pipelines"].as_array().cloned())
        .unwrap_or_default();
    let mut constraints = vec![Constraint::Length(2)];
    let height = |rows: usize| Constraint::Length(u16::try_from(rows + 4).unwrap_or(u16::MAX));
    constraints.extend(
        pipelines
            .iter()
            .map(|p| height(p["components"].as_array().map_or(0, Vec::len))),
    );
    if !view.queues.is_empty() {
        constraints.push(height(view.queues.len()));
    }
    constraints.push(Constraint::Min(0));
    let areas = Layout::vertical(constraints).split(frame.area());
    let sorted_by = match COLUMNS[view.sort] {
        (_, None) => "the file's order".to_owned(),
        (name, Some(_)) => format!(
            "{name} {}",
            if view.ascending {
                "ascending"
            } else {
                "descending"
            }
        ),
    };
    let when = view
        .last
        .as_ref()
        .map_or_else(String::new, |(_, at)| at.format("%H:%M:%S").to_string());
    let mut header = vec![Line::from(vec![
        Span::styled("sluice top ", Style::new().add_modifier(Modifier::BOLD)),
        Span::raw(format!(
            "{}  {when}  sorted by {sorted_by}  (s/←/→: sort, r: reverse, q: quit)",
            view.addr
        )),
    ])];
    if let Some(error) = &view.error {
        header.push(Line::styled(
            format!("{error}; retrying every second (is it running with --admin-addr?)"),
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        ));
    } else if view.last.is_some() && pipelines.is_empty() && view.queues.is_empty() {
        header.push(Line::raw(
            "the process runs no pipeline and has no job store",
        ));
    }
    frame.render_widget(Paragraph::new(header).wrap(Wrap { trim: true }), areas[0]);
    for (pipeline, area) in pipelines.iter().zip(areas.iter().skip(1)) {
        frame.render_widget(table(pipeline, view), *area);
    }
    if let Some(area) = areas.get(pipelines.len() + 1)
        && !view.queues.is_empty()
    {
        frame.render_widget(queues(&view.queues), *area);
    }
}

/// The job states shown for each queue, in a job's order.
const STATES: &[&str] = &[
    "blocked",
    "available",
    "scheduled",
    "running",
    "retryable",
    "succeeded",
    "dead",
    "cancelled",
];

/// The job store's queues as a table, by name.
fn queues(queues: &[Value]) -> Table<'static> {
    let rows = queues.iter().map(|q| {
        let mut cells = vec![format!(
            "{}{}",
            q["name"].as_str().unwrap_or_default(),
            if q["paused_since"].is_null() {
                ""
            } else {
                " (paused)"
            }
        )];
        cells.extend(
            STATES
                .iter()
                .map(|state| q["counts"][state].as_u64().unwrap_or(0).to_string()),
        );
        cells.push(q["live_workers"].as_u64().unwrap_or(0).to_string());
        cells.push(latency(&q["last_hour"]["wait_p50_ms"]));
        cells.push(
            q["last_hour"]["succeeded"]
                .as_u64()
                .unwrap_or(0)
                .to_string(),
        );
        Row::new(cells)
    });
    let mut names = vec!["QUEUE".to_owned()];
    names.extend(STATES.iter().map(|s| s.to_uppercase()));
    names.extend(["WORKERS", "WAIT P50", "DONE 1h"].map(str::to_owned));
    let header = Row::new(names).style(Style::new().add_modifier(Modifier::BOLD));
    let mut widths = vec![Constraint::Min(18)];
    widths.extend(STATES.iter().map(|_| Constraint::Length(10)));
    widths.extend([
        Constraint::Length(8),
        Constraint::Length(9),
        Constraint::Length(9),
    ]);
    Table::new(rows, widths)
        .header(header)
        .block(Block::bordered().title(" job queues "))
}

/// One pipeline's components as a table.
fn table(pipeline: &Value, view: &View) -> Table<'static> {
    let mut components: Vec<&Value> = pipeline["components"]
        .as_array()
        .map(|c| c.iter().collect())
        .unwrap_or_default();
    if let (_, Some(field)) = COLUMNS[view.sort] {
        let key = |c: &Value| -> f64 {
            match field {
                "queue_depth" => fill(c),
                _ => c[field].as_f64().unwrap_or(-1.0),
            }
        };
        components.sort_by(|a, b| {
            key(a)
                .partial_cmp(&key(b))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        if !view.ascending {
            components.reverse();
        }
    }
    let rows = components.iter().map(|c| {
        let bottleneck = c["bottleneck"].as_bool().unwrap_or(false);
        let name = c["name"].as_str().unwrap_or_default();
        let cells = vec![
            if bottleneck {
                format!("▶ {name}")
            } else {
                format!("  {name}")
            },
            format!(
                "{} {}",
                c["kind"].as_str().unwrap_or_default(),
                c["type"].as_str().unwrap_or_default()
            ),
            rate(&c["in_per_sec"]),
            rate(&c["out_per_sec"]),
            rate(&c["errors_per_sec"]),
            c["dead_letters"].as_u64().unwrap_or(0).to_string(),
            match c["queue_capacity"].as_u64() {
                Some(capacity) if capacity > 0 => format!(
                    "{}/{capacity} {:>3.0}%",
                    c["queue_depth"].as_u64().unwrap_or(0),
                    fill(c) * 100.0
                ),
                _ => "-".to_owned(),
            },
            format!("{:>3.0}%", c["busy"].as_f64().unwrap_or(0.0) * 100.0),
            latency(&c["p50_ms"]),
            latency(&c["p99_ms"]),
        ];
        let row = Row::new(cells);
        if bottleneck {
            row.style(Style::new().fg(Color::Red).add_modifier(Modifier::BOLD))
        } else {
            row
        }
    });
    let header = Row::new(COLUMNS.iter().enumerate().map(|(i, (name, _))| {
        let style = Style::new().add_modifier(Modifier::BOLD);
        if i == view.sort {
            Span::styled(format!("{name}*"), style.add_modifier(Modifier::UNDERLINED))
        } else {
            Span::styled((*name).to_owned(), style)
        }
    }));
    let title = match pipeline["bottleneck"].as_str() {
        Some(b) => format!(
            " pipeline {}: bottleneck {b} (busy, input queue full) ",
            pipeline["name"].as_str().unwrap_or_default()
        ),
        None => format!(
            " pipeline {}: no bottleneck ",
            pipeline["name"].as_str().unwrap_or_default()
        ),
    };
    Table::new(
        rows,
        [
            Constraint::Min(18),
            Constraint::Min(16),
            Constraint::Length(9),
            Constraint::Length(9),
            Constraint::Length(9),
            Constraint::Length(9),
            Constraint::Length(16),
            Constraint::Length(5),
            Constraint::Length(9),
            Constraint::Length(9),
        ],
    )
    .header(header)
    .block(Block::bordered().title(title))
}

/// How full a component's input queue is, from 0 to 1.
fn fill(c: &Value) -> f64 {
    match (c["queue_depth"].as_f64(), c["queue_capacity"].as_f64()) {
        (Some(depth), Some(capacity)) if capacity > 0.0 => depth / capacity,
        _ => 0.0,
    }
}

/// Events a second, short: `950`, `12.5k`, `1.43M`.
fn rate(value: &Value) -> String {
    let v = value.as_f64().unwrap_or(0.0);
    if v >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

/// A latency in milliseconds, short: `850µs`, `12.3ms`, `2.1s`; `-` with no sample.
fn latency(value: &Value) -> String {
    match value.as_f64() {
        None => "-".to_owned(),
        Some(ms) if ms < 1.0 => format!("{:.0}µs", ms * 1000.0),
        Some(ms) if ms < 1000.0 => format!("{ms:.1}ms"),
        Some(ms) => format!("{:.1}s", ms / 1000.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sorting_moves_over_the_columns_that_sort() {
        assert_eq!(COLUMNS[next_sort(0, 1)].0, "IN/s");
        assert_eq!(next_sort(next_sort(0, 1), COLUMNS.len() - 1), 0);
        assert_eq!(COLUMNS[next_sort(0, COLUMNS.len() - 1)].0, "P99");
    }

    #[test]
    fn figures_are_short() {
        assert_eq!(rate(&json!(950.4)), "950");
        assert_eq!(rate(&json!(12_500.0)), "12.5k");
        assert_eq!(rate(&json!(1_430_000.0)), "1.43M");
        assert_eq!(latency(&json!(0.85)), "850µs");
        assert_eq!(latency(&json!(12.34)), "12.3ms");
        assert_eq!(latency(&Value::Null), "-");
    }
}

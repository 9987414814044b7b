//! What `ems` shows on stderr while a session works: an `indicatif` bar while mining when stderr
//! is a terminal, a plain line a second otherwise (logs, scripts, tests); frames held for later
//! and queued frames dropped. `--quiet` shows only the drops.

use ems_client::report::{Report, Reporter};
use ems_client::time::{format_utc, now};
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often plain progress lines are written.
const PLAIN_EVERY: Duration = Duration::from_secs(1);

/// The reporter of an `ems` command.
pub(crate) fn reporter(quiet: bool) -> Reporter {
    let terminal = std::io::stderr().is_terminal();
    let state = Mutex::new(Shown {
        bar: None,
        last_line: Instant::now(),
    });
    Arc::new(move |report: &Report<'_>| {
        let mut shown = state.lock().unwrap_or_else(|e| e.into_inner());
        show(&mut shown, report, quiet, terminal);
    })
}

/// What is on screen.
struct Shown {
    bar: Option<indicatif::ProgressBar>,
    last_line: Instant,
}

fn show(shown: &mut Shown, report: &Report<'_>, quiet: bool, terminal: bool) {
    if let Report::Dropped { error } = report {
        eprintln!("warning: dropped a queued frame: {error}");
        return;
    }
    if let Report::Resealed { label, error } = report {
        eprintln!("warning: {label} sealed again under a new key after: {error}");
        return;
    }
    if quiet {
        return;
    }
    match *report {
        Report::MiningStarted {
            label,
            expected_tries,
        } => {
            shown.last_line = Instant::now();
            if terminal {
                let bar = indicatif::ProgressBar::new(expected_tries);
                bar.set_style(
                    indicatif::ProgressStyle::with_template(
                        "mining {msg} [{bar:30}] {human_pos}/~{human_len} tries {per_sec}",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                );
                bar.set_message(label.to_string());
                shown.bar = Some(bar);
            }
        }
        Report::Mining { label, progress } => match &shown.bar {
            Some(bar) => {
                bar.set_length(progress.expected_tries.max(progress.tries));
                bar.set_position(progress.tries);
            }
            None if shown.last_line.elapsed() >= PLAIN_EVERY => {
                shown.last_line = Instant::now();
                eprintln!(
                    "mining {label}: {} of ~{} tries, {:.1} M tries/s",
                    progress.tries,
                    progress.expected_tries,
                    progress.rate() / 1e6
                );
            }
            None => {}
        },
        Report::Mined {
            label,
            bytes,
            expected_tries,
            elapsed,
        } => {
            if let Some(bar) = shown.bar.take() {
                bar.finish_and_clear();
            }
            eprintln!(
                "mined {label} ({bytes} bytes, ~{expected_tries} tries) in {:.2} s",
                elapsed.as_secs_f64()
            );
        }
        Report::Holding { label, until } => eprintln!(
            "holding {label} until {} ({} s)",
            format_utc(until),
            until.saturating_sub(now())
        ),
        Report::Dropped { .. } | Report::Resealed { .. } => {}
    }
}

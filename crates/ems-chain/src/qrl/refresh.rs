//! The background task: fetch the newest headers, link them to the cache (fetching back through
//! gaps and reorgs), fill the window backwards, trim it, judge health, sleep.

use super::client::{Client, HEADERS_PER_CALL};
use super::window::{Fit, Header, MAX_BLOCKS};
use super::{Cache, QrlError, QrlState, Shared};
use ems_core::clock::unix_now;
use std::sync::Arc;
use std::time::Duration;

/// Headers asked for on each poll once blocks are cached; a gap or reorg deeper than this makes
/// the task fetch back page by page.
const POLL_HEADERS: u32 = 10;
/// Older pages fetched per poll while filling the window, so a long fill never delays following
/// the head by more than this many calls.
const BACKFILL_PAGES: usize = 20;
/// Block interval assumed until two blocks are cached: QRL mainnet's target.
const DEFAULT_INTERVAL: u64 = 60;
/// Polls are at half the block interval, within these bounds.
const MIN_POLL: Duration = Duration::from_millis(500);
const MAX_POLL: Duration = Duration::from_secs(15);
/// Longest wait between attempts while the node fails (unless the poll interval is longer).
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// A stuck head is noticed after this many block intervals, and never sooner than the floor.
const STALL_INTERVALS: u64 = 10;
const STALL_FLOOR: u64 = 10;

/// Runs until the task is aborted (when the [`super::QrlChain`] is dropped).
pub(super) async fn run(shared: Arc<Shared>) {
    let mut failures: u32 = 0;
    loop {
        let outcome = sync(&shared, unix_now()).await;
        if let Err(e) = &outcome {
            failures = failures.saturating_add(1);
            tracing::debug!(source = %shared.endpoint, error = %e, failures, "chain refresh failed");
            shared.reset_client();
        } else {
            failures = 0;
        }
        let delay = record(&shared, outcome, failures, unix_now());
        tokio::time::sleep(delay).await;
    }
}

/// Records a refresh's outcome in the health record, logs a change of state, and says how long
/// to wait before the next refresh.
fn record(shared: &Shared, outcome: Result<bool, QrlError>, failures: u32, now: u64) -> Duration {
    let mut cache = shared.write();
    let interval = cache
        .window
        .block_interval()
        .unwrap_or(DEFAULT_INTERVAL)
        .max(1);
    let stall_after = match shared.config.stall_after {
        0 => (STALL_INTERVALS * interval).max(STALL_FLOOR),
        secs => secs,
    };
    match outcome {
        Ok(moved) => cache.health.succeeded(now, moved, stall_after),
        Err(e) => cache.health.failed(now, e.to_string()),
    }
    log_state_change(shared, &mut cache, now);
    let poll = Duration::from_millis(interval.saturating_mul(500)).clamp(MIN_POLL, MAX_POLL);
    let mut delay = match failures {
        0 => poll,
        n => poll
            .saturating_mul(1 << (n - 1).min(16))
            .min(MAX_BACKOFF)
            .max(poll),
    };
    // Wake when the grace period ends, so the change to unavailable is logged when it happens.
    let grace = shared.config.grace;
    if let Some(left) = cache.health.grace_left(now, grace).filter(|&l| l > 0) {
        delay = delay.min(Duration::from_secs(left) + Duration::from_millis(100));
    }
    delay
}

/// Logs the state at `now` if it differs from the last one logged.
fn log_state_change(shared: &Shared, cache: &mut Cache, now: u64) {
    let state = shared.state_at(cache, now);
    let Some(previous) = cache.health.record_logged(state) else {
        return;
    };
    let source = &shared.endpoint;
    let height = cache.window.tip().map(|t| t.height);
    let problem = cache.health.problem().unwrap_or_default();
    let grace = shared.config.grace;
    match state {
        QrlState::Healthy => {
            tracing::info!(%source, ?height, was = previous.name(), "chain source healthy")
        }
        QrlState::Degraded => tracing::warn!(
            %source, ?height, problem,
            grace_left_secs = cache.health.grace_left(now, grace),
            "chain source unhealthy: serving cached blocks until the grace period ends"
        ),
        QrlState::Unavailable => tracing::error!(
            %source, ?height, problem,
            "chain source unavailable: refusing new messages until it recovers"
        ),
        QrlState::Connecting => {}
    }
}

/// One refresh at `now`; returns whether the head changed.
async fn sync(shared: &Shared, now: u64) -> Result<bool, QrlError> {
    let mut client = shared.client()?;
    let before = shared.read().window.tip().map(|t| t.hash);
    let quantity = if before.is_some() {
        POLL_HEADERS
    } else {
        HEADERS_PER_CALL
    };
    let mut run = client.latest(0, quantity).await?;
    let Some(&node_tip) = run.last() else {
        return Ok(false);
    };
    let keep_from = now.min(node_tip.time).saturating_sub(shared.window_secs);

    // Fetch back until the new headers link to the cache, or replace it.
    while let Some(&first) = run.first() {
        let fit = shared.read().window.fit(&run);
        if fit != Fit::NeedsOlder || first.time < keep_from || run.len() >= MAX_BLOCKS {
            break;
        }
        let older = below(&mut client, &first, node_tip.height).await?;
        run.splice(0..0, older);
    }
    let spliced = shared.write().window.splice(run);
    if spliced.reorged > 0 {
        tracing::info!(
            source = %shared.endpoint,
            replaced = spliced.reorged,
            head = node_tip.height,
            "chain reorganisation: cached blocks replaced"
        );
    }

    // Fill the window backwards, a bounded number of pages per refresh.
    for _ in 0..BACKFILL_PAGES {
        let Some(oldest) = ({
            let cache = shared.read();
            cache
                .window
                .wants_older(keep_from)
                .and(cache.window.oldest().copied())
        }) else {
            break;
        };
        let older = below(&mut client, &oldest, node_tip.height).await?;
        if !shared.write().window.prepend(older) {
            return Err(moved_while_paging(oldest.height));
        }
    }
    let mut cache = shared.write();
    cache.window.trim(keep_from);
    Ok(cache.window.tip().map(|t| t.hash) != before)
}

/// Up to 100 headers ending with `first`'s parent, asked for by offset from `node_tip` (the
/// height the node reported as its head; if it has moved up since, the extra headers are
/// dropped).
async fn below(
    client: &mut Client,
    first: &Header,
    node_tip: u64,
) -> Result<Vec<Header>, QrlError> {
    let Some(parent) = first.height.checked_sub(1) else {
        return Err(QrlError::garbage(
            "GetLatestData",
            "a request for the parent of genesis",
        ));
    };
    let offset = u32::try_from(node_tip.saturating_sub(parent)).map_err(|_| {
        QrlError::garbage(
            "GetLatestData",
            format!("a head {node_tip} too far above block {parent} to page back to it"),
        )
    })?;
    let quantity =
        u32::try_from(first.height).map_or(HEADERS_PER_CALL, |n| n.min(HEADERS_PER_CALL));
    let mut page = client.latest(offset, quantity).await?;
    page.retain(|h| h.height <= parent);
    match page.last() {
        Some(p) if p.height == parent && p.hash == first.prev => Ok(page),
        _ => Err(moved_while_paging(first.height)),
    }
}

fn moved_while_paging(height: u64) -> QrlError {
    QrlError::garbage(
        "GetLatestData",
        format!(
            "no parent of block {height} where one was expected (the chain moved while paging)"
        ),
    )
}

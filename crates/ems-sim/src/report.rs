//! Tables.

use crate::churn::Churned;
use crate::cluster::Kind;
use crate::measure::Stat;
use crate::partition::Healed;
use crate::scenario::Figures;

/// The header of the propagation table.
pub fn header() -> String {
    "| N | frame | node | msgs | 50% mean/p99 ms | 90% mean/p99 | 99% mean/p99 | 100% mean/p99 | complete | dup/node/msg | payload B/node/msg | other B/node/msg | background B/node/s | peers | sim CPU cores | CPU ms/node/msg | load |\n\
     |---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
        .to_string()
}

fn stat(s: &Stat) -> String {
    format!("{:.0} / {:.0}", s.mean, s.p99)
}

/// One row of the propagation table.
pub fn row(f: &Figures) -> String {
    format!(
        "| {} | {} | {} | {} | {} | {} | {} | {} | {}/{} | {:.2} | {:.0} | {:.0} | {:.0} | {:.1} | {:.2} | {:.2} | {:.1} |",
        f.nodes,
        f.frame,
        match f.kind {
            Kind::Ems => "relay",
            Kind::Bare => "bare",
        },
        f.messages,
        stat(&f.reach[0]),
        stat(&f.reach[1]),
        stat(&f.reach[2]),
        stat(&f.reach[3]),
        f.reach[3].count,
        f.messages,
        f.duplicates,
        f.payload,
        f.control,
        f.background,
        f.degree,
        f.cpu.cores,
        f.cpu.seconds * 1e3 / (f.nodes * f.messages).max(1) as f64,
        f.cpu.load,
    )
}

/// Relay over bare ratios of the mean reach-all time, duplicates and bytes.
pub fn ratio(ems: &Figures, bare: &Figures) -> String {
    let r = |a: f64, b: f64| {
        if b > 0.0 {
            format!("{:.2}", a / b)
        } else {
            "-".into()
        }
    };
    format!(
        "N={} frame={}: relay/bare mean time to 100%: {}, to 50%: {}, duplicates: {}, payload bytes: {}, other bytes: {}",
        ems.nodes,
        ems.frame,
        r(ems.reach[3].mean, bare.reach[3].mean),
        r(ems.reach[0].mean, bare.reach[0].mean),
        r(ems.duplicates, bare.duplicates),
        r(ems.payload, bare.payload),
        r(ems.control, bare.control),
    )
}

/// Quantiles (min, median, p90, max) of `v`, formatted in seconds.
fn spread(mut v: Vec<f64>) -> String {
    if v.is_empty() {
        return "–".into();
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let q = |f: f64| v[((v.len() - 1) as f64 * f).round() as usize];
    format!(
        "{:.1} / {:.1} / {:.1} / {:.1}",
        q(0.0),
        q(0.5),
        q(0.9),
        q(1.0)
    )
}

/// The heal's timeline table, then per-node figures: when each node first had a connection
/// across, and when it had everything.
pub fn heal(h: &Healed) -> String {
    let mut out = String::from(
        "| s after heal | links across | nodes with one | pairs missing | rounds | exchanges | busy | fetch requests | got by sync | got by gossip | mean peers | sim cores |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for s in &h.timeline {
        out.push_str(&format!(
            "| {:.1} | {} | {} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.1} | {:.2} |\n",
            s.at,
            s.crossings,
            s.crossed,
            s.missing,
            s.rounds,
            s.exchanges,
            s.busy,
            s.fetches,
            s.via_sync,
            s.via_gossip,
            s.peers,
            s.cores
        ));
    }
    let crossed: Vec<&(Option<f64>, Option<f64>)> =
        h.nodes.iter().filter(|n| n.0.is_some()).collect();
    out.push_str(&format!(
        "nodes: {} of {} had a link across; first link s after heal (min / median / p90 / max): {}; everything s after heal, nodes with a link: {}; nodes without: {}; everything s after their first link: {}",
        crossed.len(),
        h.nodes.len(),
        spread(crossed.iter().filter_map(|n| n.0).collect()),
        spread(crossed.iter().filter_map(|n| n.1).collect()),
        spread(h.nodes.iter().filter(|n| n.0.is_none()).filter_map(|n| n.1).collect()),
        spread(crossed.iter().filter_map(|n| Some(n.1? - n.0?)).collect()),
    ));
    out
}

/// The messages of a churn run that missed a node due to receive them, with their publisher.
pub fn missed(c: &Churned) -> String {
    let mut out = String::from(
        "| published s | publisher age s | publisher peers | publisher stopped s after | reached / due |\n\
         |---|---|---|---|---|\n",
    );
    let s = |v: Option<f64>| v.map_or("–".into(), |v| format!("{v:.1}"));
    for m in &c.missed {
        out.push_str(&format!(
            "| {:.1} | {} | {} | {} | {} / {} |\n",
            m.at,
            s(m.publisher_age),
            m.publisher_peers,
            s(m.publisher_stopped),
            m.reached,
            m.due
        ));
    }
    for (age, peers, count) in &c.missing_nodes {
        out.push_str(&format!(
            "node running {} s at the end, {peers} peers then, missed {count} messages\n",
            s(*age)
        ));
    }
    out
}

/// The pairs an attack left missing at the end of the tail, and whether each came later.
pub fn unreached(missed: &[crate::scenario::Missed]) -> String {
    let mut out = String::new();
    for m in missed {
        let late = match m.late {
            Some(after) => format!("arrived {:.1} s after the tail", after.as_secs_f64()),
            None => format!(
                "still missing {} s after the tail",
                crate::scenario::LATE_WAIT.as_secs()
            ),
        };
        out.push_str(&format!(
            "message {} missed node {} ({} peers; {} frames skipped over a budget, {} from banned senders): {late}\n",
            m.message, m.node, m.peers, m.unread.0, m.unread.1
        ));
    }
    out
}

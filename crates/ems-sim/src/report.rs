//! Tables.

use crate::cluster::Kind;
use crate::measure::Stat;
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

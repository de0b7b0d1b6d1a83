//! The plan as a chart: emails per day, one stacked bar per day with a segment per campaign, drawn
//! as SVG on the server (no script, nothing to fetch). Each segment carries its day, campaign and
//! count as `data-` attributes and a `<title>` with the locales, which browsers show on hover.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::NaiveDate;

use tera::escape_html as esc;

/// One segment: a campaign's emails on a day.
pub struct Segment {
    /// Emails.
    pub emails: u64,
    /// Emails per locale.
    pub locales: BTreeMap<String, u64>,
}

/// Colours of the campaigns, in their order (then again).
pub const PALETTE: [&str; 6] = [
    "#0b7a53", "#2f6fb5", "#c26a00", "#8a3ffc", "#b0245a", "#5b6b78",
];

const WIDTH: u32 = 980;
const HEIGHT: u32 = 300;
const LEFT: u32 = 56;
const BOTTOM: u32 = 40;
const TOP: u32 = 16;

/// The chart of `days`, with `campaigns` stacked in this order, from `segments[(day, campaign)]`.
pub fn svg(
    days: &[NaiveDate],
    campaigns: &[String],
    segments: &BTreeMap<(NaiveDate, String), Segment>,
) -> String {
    let totals: Vec<u64> = days
        .iter()
        .map(|d| {
            campaigns
                .iter()
                .filter_map(|c| segments.get(&(*d, c.clone())))
                .map(|s| s.emails)
                .sum()
        })
        .collect();
    let top = nice_ceiling(totals.iter().copied().max().unwrap_or(0));
    let plot_h = f64::from(HEIGHT - TOP - BOTTOM);
    let slot = f64::from(WIDTH - LEFT - 8) / days.len().max(1) as f64;
    let bar = (slot * 0.62).max(2.0);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg id="plan-chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" aria-labelledby="plan-chart-title"><title id="plan-chart-title">Emails per day and campaign, {} days</title>"#,
        days.len()
    );
    axis(&mut s, top, plot_h);
    for (i, day) in days.iter().enumerate() {
        let x = f64::from(LEFT) + slot * i as f64 + (slot - bar) / 2.0;
        let mut y = f64::from(HEIGHT - BOTTOM);
        for (k, c) in campaigns.iter().enumerate() {
            let Some(seg) = segments.get(&(*day, c.clone())).filter(|s| s.emails > 0) else {
                continue;
            };
            let h = plot_h * seg.emails as f64 / top as f64;
            y -= h;
            let locales: Vec<String> = seg
                .locales
                .iter()
                .map(|(l, n)| format!("{l} {n}"))
                .collect();
            let _ = write!(
                s,
                r#"<rect x="{x:.1}" y="{y:.1}" width="{bar:.1}" height="{h:.1}" fill="{}" data-day="{day}" data-campaign="{}" data-count="{}"><title>{} · {}: {} email{} ({})</title></rect>"#,
                PALETTE[k % PALETTE.len()],
                esc(c),
                seg.emails,
                day.format("%a %-d %b"),
                esc(c),
                seg.emails,
                if seg.emails == 1 { "" } else { "s" },
                esc(&locales.join(", ")),
            );
        }
        let cx = f64::from(LEFT) + slot * (i as f64 + 0.5);
        let _ = write!(
            s,
            r##"<text x="{cx:.1}" y="{}" text-anchor="middle" font-size="11" fill="#5b6b78">{}</text><text x="{cx:.1}" y="{}" text-anchor="middle" font-size="11" fill="#1d2b36">{}</text>"##,
            HEIGHT - BOTTOM + 15,
            day.format("%a"),
            HEIGHT - BOTTOM + 29,
            day.format("%-d %b"),
        );
        if totals[i] > 0 {
            let _ = write!(
                s,
                r##"<text x="{cx:.1}" y="{:.1}" text-anchor="middle" font-size="11" fill="#1d2b36">{}</text>"##,
                y - 4.0,
                totals[i]
            );
        }
    }
    s.push_str("</svg>");
    s
}

/// The value axis: four grid lines from 0 to `top`.
fn axis(s: &mut String, top: u64, plot_h: f64) {
    for step in 0..=4u64 {
        let value = top * step / 4;
        let y = f64::from(HEIGHT - BOTTOM) - plot_h * step as f64 / 4.0;
        let _ = write!(
            s,
            r##"<line x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#d9e0e6"/><text x="{}" y="{:.1}" text-anchor="end" font-size="11" fill="#5b6b78">{value}</text>"##,
            WIDTH - 8,
            LEFT - 6,
            y + 4.0
        );
    }
}

/// The top of the value axis: four equal steps, each 1, 2, 2.5 or 5 × 10ⁿ, reaching `n`.
fn nice_ceiling(n: u64) -> u64 {
    let mut unit = 1u64;
    while unit < u64::MAX / 100 {
        for step in [unit, 2 * unit, 25 * unit / 10, 5 * unit] {
            if step >= 1 && step * 4 >= n {
                return step * 4;
            }
        }
        unit *= 10;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, d).unwrap()
    }

    #[test]
    fn each_days_campaigns_are_stacked_segments_with_their_counts_and_locales() {
        let campaigns = vec!["confirmation".to_string(), "re<minder".to_string()];
        let mut segs = BTreeMap::new();
        segs.insert(
            (day(10), "confirmation".to_string()),
            Segment {
                emails: 3,
                locales: [("de".to_string(), 1), ("en".to_string(), 2)].into(),
            },
        );
        segs.insert(
            (day(10), "re<minder".to_string()),
            Segment {
                emails: 1,
                locales: [("fr".to_string(), 1)].into(),
            },
        );
        let svg = svg(&[day(10), day(11)], &campaigns, &segs);
        assert_eq!(svg.matches("<rect").count(), 2);
        assert!(
            svg.contains(r#"data-day="2026-12-10" data-campaign="confirmation" data-count="3""#)
        );
        assert!(svg.contains("(de 1, en 2)"));
        assert!(svg.contains(r#"data-campaign="re&lt;minder""#));
        assert!(!svg.contains("re<minder"));
        assert!(svg.contains(">4</text>"), "the day's total over its bar");
    }

    #[test]
    fn the_axis_ends_on_a_round_number_at_or_above_the_highest_day() {
        assert_eq!(nice_ceiling(0), 4);
        assert_eq!(nice_ceiling(3), 4);
        assert_eq!(nice_ceiling(17), 20);
        assert_eq!(nice_ceiling(20), 20);
        assert_eq!(nice_ceiling(21), 40);
        assert_eq!(nice_ceiling(950), 1000);
        assert_eq!(nice_ceiling(22_736), 40_000);
    }
}

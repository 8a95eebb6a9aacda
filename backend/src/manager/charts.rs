//! The dashboard's charts as SVG images, drawn on the server from the
//! view the page also shows as tables ([`super::dashboard::DashboardView`]):
//! no chart library, no script, no style sheet — shapes with presentation
//! attributes and text, every name XML-escaped. The page shows them with
//! `<img>`, so nothing in them could run even if a name tried.

use std::fmt::Write;

use super::dashboard::{DashboardView, duration};
use crate::domain::Outcome;

const WIDTH: u32 = 720;
const FONT: &str = "font-family=\"system-ui, sans-serif\" font-size=\"12\" fill=\"#24292f\"";

/// A colour per outcome (the answered ones green).
fn colour(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Answered => "#1a7f37",
        Outcome::NoAnswer => "#bf8700",
        Outcome::Busy => "#fb8f44",
        Outcome::Rejected => "#cf222e",
        Outcome::Failed => "#8c959f",
        Outcome::AgentNoAnswer => "#8250df",
        Outcome::Canceled => "#d0d7de",
    }
}

/// `text` safe inside an XML element or attribute.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Not allowed in XML.
            c if c.is_control() || matches!(c, '\u{fffe}' | '\u{ffff}') => {}
            c => out.push(c),
        }
    }
    out
}

fn open(out: &mut String, height: u32, title: &str) {
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" \
         viewBox=\"0 0 {WIDTH} {height}\" role=\"img\" aria-labelledby=\"titulo\">\
         <title id=\"titulo\">{}</title>\
         <rect width=\"{WIDTH}\" height=\"{height}\" fill=\"#ffffff\"/>",
        escape(title)
    );
}

fn calls_in_words(calls: u64) -> String {
    if calls == 1 {
        "1 ligação".to_owned()
    } else {
        format!("{calls} ligações")
    }
}

fn percent(rate: Option<f64>) -> String {
    rate.map_or_else(|| "–".to_owned(), |r| format!("{:.0}%", r * 100.0))
}

/// Calls per salesperson, most first: all calls, and the answered part.
pub fn ranking(view: &DashboardView) -> String {
    let rows = view.ranking.len().max(1) as u32;
    let height = 40 + rows * 28;
    let mut out = String::new();
    open(&mut out, height, "Ligações por vendedor");
    let most = view
        .ranking
        .iter()
        .map(|r| r.calls)
        .max()
        .unwrap_or(0)
        .max(1);
    let (left, bar_width) = (180u32, WIDTH - 180 - 290);
    if view.ranking.is_empty() {
        let _ = write!(
            out,
            "<text x=\"16\" y=\"44\" {FONT}>Nenhuma ligação no período.</text>"
        );
    }
    for (i, row) in view.ranking.iter().enumerate() {
        let y = 24 + i as u32 * 28;
        let calls = (row.calls * u64::from(bar_width) / most) as u32;
        let answered = (row.answered * u64::from(bar_width) / most) as u32;
        let _ = write!(
            out,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" {FONT}>{}</text>\
             <rect x=\"{left}\" y=\"{y}\" width=\"{calls}\" height=\"18\" fill=\"#d0d7de\"/>\
             <rect x=\"{left}\" y=\"{y}\" width=\"{answered}\" height=\"18\" fill=\"#1a7f37\"/>\
             <text x=\"{}\" y=\"{}\" {FONT}>{}, {} atendida{} ({}), {}</text>",
            left - 8,
            y + 13,
            escape(&row.name),
            left + calls + 6,
            y + 13,
            calls_in_words(row.calls),
            row.answered,
            if row.answered == 1 { "" } else { "s" },
            percent(row.answer_rate),
            duration(row.talk_seconds),
        );
    }
    out.push_str("</svg>");
    out
}

/// Calls per day, stacked by outcome, with the legend.
pub fn days(view: &DashboardView) -> String {
    let height = 300u32;
    let mut out = String::new();
    open(&mut out, height, "Ligações por dia e resultado");
    let (left, top, plot_height) = (48u32, 16u32, 200u32);
    let most = view.days.iter().map(|d| d.calls).max().unwrap_or(0).max(1);
    let slot = (WIDTH - left - 16) / (view.days.len().max(1) as u32);
    let bar = (slot * 3 / 4).max(1);
    let _ = write!(
        out,
        "<line x1=\"{left}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#8c959f\"/>\
         <text x=\"{}\" y=\"{}\" text-anchor=\"end\" {FONT}>{most}</text>\
         <text x=\"{}\" y=\"{}\" text-anchor=\"end\" {FONT}>0</text>",
        top + plot_height,
        WIDTH - 16,
        top + plot_height,
        left - 6,
        top + 10,
        left - 6,
        top + plot_height,
    );
    // At most about 15 day labels.
    let every = view.days.len().div_ceil(15).max(1);
    for (i, day) in view.days.iter().enumerate() {
        let x = left + i as u32 * slot + (slot - bar) / 2;
        let mut y = top + plot_height;
        for count in &day.outcomes {
            let h = (count.calls * u64::from(plot_height) / most) as u32;
            if h == 0 {
                continue;
            }
            y -= h;
            let _ = write!(
                out,
                "<rect x=\"{x}\" y=\"{y}\" width=\"{bar}\" height=\"{h}\" fill=\"{}\"/>",
                colour(count.outcome)
            );
        }
        if i % every == 0 {
            let _ = write!(
                out,
                "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" {FONT}>{}</text>",
                x + bar / 2,
                top + plot_height + 16,
                escape(&day.label)
            );
        }
    }
    for (i, name) in view.outcomes.iter().enumerate() {
        let (x, y) = (
            left + (i as u32 % 4) * 160,
            top + plot_height + 40 + (i as u32 / 4) * 18,
        );
        let _ = write!(
            out,
            "<rect x=\"{x}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{}\"/>\
             <text x=\"{}\" y=\"{}\" {FONT}>{}</text>",
            y - 10,
            colour(name.value),
            x + 18,
            y,
            escape(name.label)
        );
    }
    out.push_str("</svg>");
    out
}

/// The answer rate by weekday and hour: darker green, more answered; grey,
/// no calls.
pub fn hours(view: &DashboardView) -> String {
    let (left, top, cell) = (48u32, 28u32, 26u32);
    let height = top + 7 * cell + 50;
    let mut out = String::new();
    open(
        &mut out,
        height,
        "Taxa de atendimento por dia da semana e hora",
    );
    for hour in (0..24u32).step_by(3) {
        let _ = write!(
            out,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" {FONT}>{hour}h</text>",
            left + hour * cell + cell / 2,
            top - 8
        );
    }
    for (row, weekday) in view.hours.iter().enumerate() {
        let y = top + row as u32 * cell;
        let _ = write!(
            out,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" {FONT}>{}</text>",
            left - 6,
            y + cell / 2 + 4,
            escape(weekday.weekday)
        );
        for (hour, slot) in weekday.hours.iter().enumerate() {
            let x = left + hour as u32 * cell;
            let fill = match slot.answer_rate {
                None => "#f6f8fa".to_owned(),
                Some(rate) => {
                    // From pale to deep green.
                    let mix = |light: f64, dark: f64| (light + (dark - light) * rate).round() as u8;
                    format!(
                        "#{:02x}{:02x}{:02x}",
                        mix(218.0, 26.0),
                        mix(251.0, 127.0),
                        mix(225.0, 55.0)
                    )
                }
            };
            let _ = write!(
                out,
                "<rect x=\"{x}\" y=\"{y}\" width=\"{}\" height=\"{}\" fill=\"{fill}\" \
                 stroke=\"#ffffff\"><title>{} {hour}h: {} de {} ({})</title></rect>",
                cell,
                cell,
                escape(weekday.weekday),
                slot.answered,
                slot.calls,
                percent(slot.answer_rate),
            );
        }
    }
    let _ = write!(
        out,
        "<text x=\"{left}\" y=\"{}\" {FONT}>Verde mais escuro: mais ligações atendidas. \
         Cinza: nenhuma ligação.</text>",
        top + 7 * cell + 24
    );
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manager::dashboard::view;
    use crate::storage::{DashboardFigures, SalespersonFigures};

    #[test]
    fn names_are_text_never_markup() {
        let figures = DashboardFigures {
            salespeople: vec![SalespersonFigures {
                user_id: "u".into(),
                name: "<script>alert(1)</script> & \"Ana\"".into(),
                calls: 3,
                answered: 1,
                talk_seconds: 65,
            }],
            ..DashboardFigures::default()
        };
        let first = jiff::civil::date(2026, 11, 29);
        let drawn = ranking(&view(first, first, None, &figures));
        assert_eq!(escape("a\u{fffe}b\u{1}c"), "abc");
        assert!(!drawn.contains("<script"), "{drawn}");
        assert!(drawn.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;Ana&quot;"));
        assert!(drawn.contains("3 ligações, 1 atendida (33%), 1 min 05 s"));
        for svg in [
            days(&view(first, first, None, &figures)),
            hours(&view(first, first, None, &figures)),
        ] {
            assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>"));
            assert!(!svg.contains("style") && !svg.contains("script"));
        }
    }
}

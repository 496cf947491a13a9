//! View models: everything the widgets show, computed without GTK so it is tested
//! without a display. They read the backend's wire types (`qcs_client::types`)
//! and never look at raw bytes from a qube: text from a qube arrives as rendered
//! segments and leaves here as escaped Pango markup.

pub mod diff_rows;
pub mod editor;
pub mod markup;
pub mod plan;
pub mod qube;
pub mod review;
pub mod three_way;

pub use qcs_client::types::Severity;

/// How the app shows a finding's severity (the client's enum, the only one): its sort
/// order, CSS class, symbol and translated name, all here. An unknown severity (a value
/// this client does not know) is shown as, and sorts with, a critical one — decided in
/// [`SeverityExt::order`] only; everything else reads that.
pub trait SeverityExt: Copy {
    /// Sort order, least severe (0, info) to most severe (4, critical and unknown).
    fn order(self) -> u8;
    /// CSS class of the severity (style.css colours it).
    fn css_class(self) -> &'static str;
    /// A symbol that tells the severity without colour.
    fn symbol(self) -> &'static str;
    /// Translated name.
    fn label(self) -> String;
}

/// CSS classes and symbols, by [`SeverityExt::order`].
const CSS_CLASSES: [&str; 5] = [
    "severity-info",
    "severity-low",
    "severity-medium",
    "severity-high",
    "severity-critical",
];
const SYMBOLS: [&str; 5] = ["ℹ", "○", "●", "▲", "✖"];

impl SeverityExt for Severity {
    fn order(self) -> u8 {
        match self {
            Severity::Info => 0,
            Severity::Low => 1,
            Severity::Medium => 2,
            Severity::High => 3,
            // Unknown must block, not slip through: the worst.
            Severity::Critical | Severity::Unknown => 4,
        }
    }

    fn css_class(self) -> &'static str {
        CSS_CLASSES[usize::from(self.order())]
    }

    fn symbol(self) -> &'static str {
        SYMBOLS[usize::from(self.order())]
    }

    fn label(self) -> String {
        use gettextrs::pgettext;
        match self.order() {
            0 => pgettext("severity", "Info"),
            1 => pgettext("severity", "Low"),
            2 => pgettext("severity", "Medium"),
            3 => pgettext("severity", "High"),
            _ => pgettext("severity", "Critical"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_severities_are_shown_and_sorted_as_critical() {
        let wire = |name: &str| {
            serde_json::from_str::<Severity>(&format!("\"{name}\"")).expect("every string decodes")
        };
        for unknown in ["CRITICAL ", "", "severe", "critical\u{202E}"] {
            let severity = wire(unknown);
            assert_eq!(severity, Severity::Unknown, "{unknown:?}");
            assert_eq!(severity.order(), Severity::Critical.order());
            assert_eq!(severity.css_class(), "severity-critical");
            assert_eq!(severity.symbol(), Severity::Critical.symbol());
            assert_eq!(severity.label(), Severity::Critical.label());
        }
        let ordered = ["info", "low", "medium", "high", "critical"].map(|n| wire(n).order());
        assert_eq!(ordered, [0, 1, 2, 3, 4]);
        // Every known severity looks different.
        let classes: std::collections::BTreeSet<_> = ["info", "low", "medium", "high", "critical"]
            .iter()
            .map(|n| (wire(n).css_class(), wire(n).symbol()))
            .collect();
        assert_eq!(classes.len(), 5);
    }
}

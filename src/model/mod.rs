//! View models: everything the widgets show, computed without GTK so it is tested
//! without a display. They read the backend's wire types (`qcs_daemon::client::types`)
//! and never look at raw bytes from a qube: text from a qube arrives as rendered
//! segments and leaves here as escaped Pango markup.

pub mod diff_rows;
pub mod editor;
pub mod markup;
pub mod plan;
pub mod qube;
pub mod review;
pub mod three_way;

/// Severity of a finding, ordered from least to most severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// Parse the backend's severity name. Anything unknown counts as critical: an
    /// unknown severity must block, not slip through.
    pub fn from_wire(name: &str) -> Severity {
        match name {
            "info" => Severity::Info,
            "low" => Severity::Low,
            "medium" => Severity::Medium,
            "high" => Severity::High,
            _ => Severity::Critical,
        }
    }

    /// CSS class of the severity (style.css colours it).
    pub fn css_class(self) -> &'static str {
        match self {
            Severity::Info => "severity-info",
            Severity::Low => "severity-low",
            Severity::Medium => "severity-medium",
            Severity::High => "severity-high",
            Severity::Critical => "severity-critical",
        }
    }

    /// A symbol that tells the severity without colour.
    pub fn symbol(self) -> &'static str {
        match self {
            Severity::Info => "ℹ",
            Severity::Low => "○",
            Severity::Medium => "●",
            Severity::High => "▲",
            Severity::Critical => "✖",
        }
    }

    /// Translated name.
    pub fn label(self) -> String {
        use gettextrs::pgettext;
        match self {
            Severity::Info => pgettext("severity", "Info"),
            Severity::Low => pgettext("severity", "Low"),
            Severity::Medium => pgettext("severity", "Medium"),
            Severity::High => pgettext("severity", "High"),
            Severity::Critical => pgettext("severity", "Critical"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_severities_block_like_critical_ones() {
        assert_eq!(Severity::from_wire("critical"), Severity::Critical);
        assert_eq!(Severity::from_wire("high"), Severity::High);
        assert_eq!(Severity::from_wire("low"), Severity::Low);
        assert_eq!(Severity::from_wire("CRITICAL "), Severity::Critical);
        assert_eq!(Severity::from_wire(""), Severity::Critical);
        assert!(Severity::Critical > Severity::High && Severity::Medium > Severity::Low);
        assert!(Severity::Low > Severity::Info);
    }
}

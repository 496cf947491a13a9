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
    /// The backend's severity (`qcs_client`'s enum, which decoded an unknown name as
    /// `Unknown`): unknown counts as critical — it must block, not slip through. `low`
    /// and `info` never gate.
    pub fn from_wire(wire: &qcs_client::types::Severity) -> Severity {
        use qcs_client::types::Severity as W;
        match wire {
            W::Info => Severity::Info,
            W::Low => Severity::Low,
            W::Medium => Severity::Medium,
            W::High => Severity::High,
            W::Critical | W::Unknown => Severity::Critical,
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
        let wire = |name: &str| {
            serde_json::from_str::<qcs_client::types::Severity>(&format!("\"{name}\""))
                .expect("every string decodes")
        };
        assert_eq!(Severity::from_wire(&wire("critical")), Severity::Critical);
        assert_eq!(Severity::from_wire(&wire("high")), Severity::High);
        assert_eq!(Severity::from_wire(&wire("CRITICAL ")), Severity::Critical);
        assert_eq!(Severity::from_wire(&wire("")), Severity::Critical);
        assert_eq!(Severity::from_wire(&wire("low")), Severity::Low);
        assert!(Severity::Critical > Severity::High && Severity::Medium > Severity::Low);
        assert!(Severity::Low > Severity::Info);
    }
}

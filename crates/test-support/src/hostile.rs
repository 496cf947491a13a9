//! Hostile inputs the review pane's bench and the backend's measurements share, so both
//! measure the same thing.

/// A store file of 80 000 one-letter lines and a proposal of it with one changed line in
/// every eight: 10 000 hunks. Returns (base, proposed).
pub fn ten_thousand_hunks() -> (String, String) {
    let base: String = (0..80_000)
        .map(|i| if i % 2 == 0 { "a\n" } else { "b\n" })
        .collect();
    let proposed: String = base
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i % 8 == 4 {
                "c\n".to_owned()
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    (base, proposed)
}

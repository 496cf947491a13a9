//! Path globs for rule files, over home-relative paths: `*` and `?` stay inside one
//! component, `**` spans any number of components (including none). Matching is
//! iterative with bounded backtracking so a hostile path costs O(len²) at worst.

/// True when `path` matches `pattern`.
pub fn matches(pattern: &str, path: &str) -> bool {
    let pat: Vec<&str> = pattern.split('/').collect();
    let comps: Vec<&str> = path.split('/').collect();
    match_components(&pat, &comps)
}

fn match_components(pat: &[&str], comps: &[&str]) -> bool {
    // Classic two-pointer wildcard match with `**` as the star over components.
    let (mut p, mut c) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while c < comps.len() {
        if p < pat.len() && pat[p] == "**" {
            star = Some((p, c));
            p += 1;
        } else if p < pat.len() && match_component(pat[p].as_bytes(), comps[c].as_bytes()) {
            p += 1;
            c += 1;
        } else if let Some((sp, sc)) = star {
            p = sp + 1;
            c = sc + 1;
            star = Some((sp, sc + 1));
        } else {
            return false;
        }
    }
    pat[p..].iter().all(|s| *s == "**")
}

fn match_component(pat: &[u8], s: &[u8]) -> bool {
    let (mut p, mut i) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        if p < pat.len() && (pat[p] == b'?' || (pat[p] != b'*' && pat[p] == s[i])) {
            p += 1;
            i += 1;
        } else if p < pat.len() && pat[p] == b'*' {
            star = Some((p, i));
            p += 1;
        } else if let Some((sp, si)) = star {
            p = sp + 1;
            i = si + 1;
            star = Some((sp, si + 1));
        } else {
            return false;
        }
    }
    pat[p..].iter().all(|b| *b == b'*')
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn globs() {
        assert!(matches(".ssh/id_*", ".ssh/id_ed25519"));
        assert!(!matches(".ssh/id_*", ".ssh/x/id_ed25519"));
        assert!(matches("**/.git/**", "src/.git/config"));
        assert!(matches("**/.git/**", ".git/hooks/pre-commit"));
        assert!(matches(
            ".config/fish/**/*.fish",
            ".config/fish/config.fish"
        ));
        assert!(matches(
            ".config/fish/**/*.fish",
            ".config/fish/conf.d/a.fish"
        ));
        assert!(matches("**/*.zwc", ".zshrc.zwc"));
        assert!(!matches(".bashrc", ".bashrc2"));
        assert!(matches(".ssh/known_hosts*", ".ssh/known_hosts.old"));
        assert!(matches("**/*.d/*", ".config/environment.d/x.conf"));
    }
}

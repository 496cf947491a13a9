//! The parser corpus (tests/corpus/parsers/{benign,malicious}) as the tests read it: its
//! files, and where each would live in a home directory. One copy for every test that
//! scans it (parser_corpus.rs, risk_consistency.rs).

/// Where a corpus file would live in a home directory (by its name).
pub fn home_path(name: &str) -> &'static str {
    let table: &[(&str, &str)] = &[
        ("ssh-config", ".ssh/config"),
        (".gitconfig", ".gitconfig"),
        (".bashrc", ".bashrc"),
        (".zshrc", ".zshrc"),
        (".profile", ".profile"),
        (".vimrc", ".vimrc"),
        ("init.vim", ".config/nvim/init.vim"),
        (".tmux.conf", ".tmux.conf"),
        (".inputrc", ".inputrc"),
        (".desktop", ".config/autostart/app.desktop"),
        (".service", ".config/systemd/user/app.service"),
        (".conf", ".config/environment.d/50-x.conf"),
    ];
    table
        .iter()
        .find(|(suffix, _)| name.ends_with(suffix))
        .map(|(_, p)| *p)
        .unwrap_or_else(|| panic!("no home path for corpus file {name}"))
}

/// The files of one part of the corpus (`benign` or `malicious`), sorted by name.
pub fn files(kind: &str) -> Vec<(String, Vec<u8>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus/parsers")
        .join(kind);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .expect("corpus dir")
        .flatten()
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).expect("corpus file"),
            )
        })
        .collect();
    out.sort();
    out
}

//! How the tools write a path into a command they suggest, so that the
//! command works when pasted into a POSIX shell.

use std::path::Path;

/// `p` as one shell word: as is when it needs no quoting, else in single
/// quotes (a quote inside becomes `'\''`).
pub fn quote_path(p: &Path) -> String {
    quote(&p.display().to_string())
}

/// `s` as one shell word, quoted as [`quote_path`] quotes a path.
pub fn quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+:,=@".contains(&b))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote_path(Path::new("./a/b.toml")), "./a/b.toml");
        assert_eq!(quote_path(Path::new("my dir/x")), "'my dir/x'");
        assert_eq!(quote_path(Path::new("it's")), "'it'\\''s'");
        assert_eq!(quote_path(Path::new("")), "''");
        assert_eq!(quote("judicial:case 1"), "'judicial:case 1'");
    }
}

//! How the tools write a path into a command they suggest, so that the
//! command works when pasted into a POSIX shell.

use std::path::{Path, PathBuf};

/// What a suggested command prints where only the person knows what goes:
/// text they write (a reason, a case reference) or a file only they hold
/// (their authority key, the network's bundle, a new device's home).
pub const PLACEHOLDER: &str = "...";

/// A value parser for text the person writes: [`PLACEHOLDER`] as it is is
/// refused, so that a suggested command pasted as printed fails for that
/// reason alone instead of sending "...".
pub fn written(s: &str) -> Result<String, String> {
    if s.trim() == PLACEHOLDER {
        return Err(
            "`...` stands for text you write yourself: put it in place of the dots, in quotes"
                .to_owned(),
        );
    }
    Ok(s.to_owned())
}

/// A value parser for a file or directory the person holds:
/// [`PLACEHOLDER`] as it is is refused with what to put there.
pub fn held_path(s: &str) -> Result<PathBuf, String> {
    if s.trim() == PLACEHOLDER {
        return Err(
            "`...` stands for a file or directory only you know: put its path in place of the dots"
                .to_owned(),
        );
    }
    Ok(PathBuf::from(s))
}

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

    #[test]
    fn the_placeholder_is_refused_and_anything_else_kept() {
        assert!(written(" ... ").unwrap_err().contains("text you write"));
        assert_eq!(written("left the unit").unwrap(), "left the unit");
        assert!(held_path("...").unwrap_err().contains("put its path"));
        assert_eq!(held_path("./a...b").unwrap(), PathBuf::from("./a...b"));
    }
}

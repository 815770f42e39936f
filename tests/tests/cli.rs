//! Snapshots of what the command-line tools print: every `--help` text, each
//! `--version`, and the error messages a person meets first (an unknown
//! subcommand, a missing argument, a home or key file that is not there, a
//! wrong passphrase, a malformed bundle or relay configuration). The cases
//! are files under `tests/cmd/<binary>/` (`help/` mirrors the subcommand
//! tree, `errors/` holds the rest); each pins the exit code, stdout and
//! stderr, so any change of wording fails here and is reviewed.
//!
//! After an intended change: `TRYCMD=overwrite cargo test -p liaison-tests
//! --test cli`, then read the diff (docs/TESTING.md).
//!
//! The binaries are the workspace's own, built by `cargo build --workspace
//! --bins` before the tests run (`scripts/test` does it).

use std::time::Duration;

/// Every binary of the workspace, by the name the cases use.
const BINARIES: [&str; 9] = [
    "liaison",
    "liaison-admin",
    "liaison-audit",
    "liaison-relay",
    "liaison-bench",
    "liaison-log-bench",
    "liaison-search-bench",
    "liaison-ui-bench",
    "liaison-attachment-bench",
];

/// Variables that change what the tools print (clap shows an `env` value in
/// `--help`; a passphrase or home from the environment changes the errors).
/// The cases that need one set it themselves.
const MUST_BE_UNSET: [&str; 3] = ["LIAISON_HOME", "LIAISON_PASSPHRASE", "LIAISON_LOG_FORMAT"];

#[test]
fn cli_snapshots() {
    for var in MUST_BE_UNSET {
        assert!(
            std::env::var_os(var).is_none(),
            "{var} is set in this environment: it changes the output the CLI snapshots pin; \
             run the test without it"
        );
    }
    let cases = trycmd::TestCases::new();
    for name in BINARIES {
        let path = liaison_tests::bin(name);
        assert!(
            path.exists(),
            "{} is missing: build the binaries first (cargo build --workspace --bins)",
            path.display()
        );
        cases.register_bin(name, path);
    }
    cases
        // The tools' own defaults, pinned against a developer's environment.
        .env("LIAISON_LOG", "warn")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .env("CLICOLOR_FORCE", "0")
        // A command that waits for a passphrase on the terminal fails
        // instead of hanging the test.
        .timeout(Duration::from_secs(60))
        .case("cmd/*/help/**/*.toml")
        .case("cmd/*/errors/*.toml")
        .case("cmd/*/errors/*.md");
}

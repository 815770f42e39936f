//! Replays the committed corpus of every fuzz target under stable `cargo
//! test`: each file of `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/`
//! goes through the same function libFuzzer calls. A target's corpus must
//! exist and be non-empty, so a deleted or renamed corpus fails here.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use liaison_fuzz::TARGETS;

fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The files of `dir`, sorted; an absent directory has none.
fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = rd
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

/// Subdirectory names of `dir`.
fn subdirs(dir: &Path) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<String> = rd
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    out.sort();
    out
}

#[test]
fn every_corpus_and_regression_file_passes_its_target() {
    let mut failures = Vec::new();
    let mut replayed = 0usize;
    for (name, target) in TARGETS {
        let corpus = files(&fuzz_dir().join("corpus").join(name));
        if corpus.is_empty() {
            failures.push(format!(
                "fuzz/corpus/{name}/ is missing or empty (write the seeds with `cargo run -p \
                 liaison-fuzz --example seeds`, then run scripts/fuzz)"
            ));
        }
        let regressions = files(&fuzz_dir().join("regressions").join(name));
        for path in corpus.iter().chain(&regressions) {
            let shown = path.strip_prefix(fuzz_dir()).unwrap_or(path).display();
            let data = match std::fs::read(path) {
                Ok(d) => d,
                Err(e) => {
                    failures.push(format!("fuzz/{shown}: cannot be read: {e}"));
                    continue;
                }
            };
            replayed += 1;
            if let Err(panic) = catch_unwind(AssertUnwindSafe(|| target(&data))) {
                let why = panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("(non-string panic)");
                failures.push(format!("fuzz/{shown}: {name} panicked: {why}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {replayed} inputs failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn corpus_regressions_and_libfuzzer_targets_name_the_same_targets() {
    let names: Vec<String> = TARGETS.iter().map(|(n, _)| (*n).to_owned()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), names.len(), "a target name is listed twice");
    let stray = |dir: &str| -> Vec<String> {
        subdirs(&fuzz_dir().join(dir))
            .into_iter()
            .filter(|d| !names.contains(d))
            .collect()
    };
    assert_eq!(stray("corpus"), Vec::<String>::new(), "corpus of no target");
    assert_eq!(
        stray("regressions"),
        Vec::<String>::new(),
        "regressions of no target"
    );
    let mut bins: Vec<String> = files(&fuzz_dir().join("libfuzzer/fuzz_targets"))
        .iter()
        .filter_map(|p| Some(p.file_stem()?.to_string_lossy().into_owned()))
        .collect();
    bins.sort();
    assert_eq!(
        bins, sorted,
        "fuzz/libfuzzer/fuzz_targets/ differs from TARGETS"
    );
    let manifest =
        std::fs::read_to_string(fuzz_dir().join("libfuzzer/Cargo.toml")).unwrap_or_default();
    for n in &names {
        assert!(
            manifest.contains(&format!("name = \"{n}\"")),
            "fuzz/libfuzzer/Cargo.toml has no [[bin]] {n}"
        );
    }
}

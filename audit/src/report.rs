//! What a verification found, for people and scripts.

/// Failures listed individually; the rest are counted.
const MAX_REPORTED: usize = 500;

/// What a verification found: failures (each naming the log, file, index or
/// checkpoint concerned) and informational notes.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    failures: Vec<String>,
    suppressed: usize,
    notes: Vec<String>,
}

impl Report {
    /// Record a failure.
    pub fn fail(&mut self, what: impl Into<String>) {
        if self.failures.len() < MAX_REPORTED {
            self.failures.push(what.into());
        } else {
            self.suppressed += 1;
        }
    }

    /// Record an informational note.
    pub fn note(&mut self, what: impl Into<String>) {
        if self.notes.len() < MAX_REPORTED {
            self.notes.push(what.into());
        }
    }

    /// The failures listed individually.
    pub fn failures(&self) -> &[String] {
        &self.failures
    }

    /// Every failure, including those not listed.
    pub fn failure_count(&self) -> usize {
        self.failures.len() + self.suppressed
    }

    /// The notes.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// Take in the failures and notes of `other`.
    pub fn absorb(&mut self, other: Report) {
        for f in other.failures {
            self.fail(f);
        }
        self.suppressed += other.suppressed;
        for n in other.notes {
            self.note(n);
        }
    }

    /// Whether nothing failed.
    pub fn is_ok(&self) -> bool {
        self.failure_count() == 0
    }

    /// Whether any failure mentions `needle` (for tests and scripts).
    pub fn mentions(&self, needle: &str) -> bool {
        self.failures.iter().any(|f| f.contains(needle))
    }

    /// Human-readable rendering: notes, then failures, then a verdict line.
    pub fn render(&self) -> String {
        self.render_as("VERIFIED: no problem found")
    }

    /// Like [`Report::render`], with `ok_line` as the verdict when nothing
    /// failed.
    pub fn render_as(&self, ok_line: &str) -> String {
        let mut out = String::new();
        for n in &self.notes {
            out.push_str(n);
            out.push('\n');
        }
        if self.is_ok() {
            out.push_str(ok_line);
            out.push('\n');
            return out;
        }
        for f in &self.failures {
            out.push_str("FAILED: ");
            out.push_str(f);
            out.push('\n');
        }
        if self.suppressed > 0 {
            out.push_str(&format!(
                "FAILED: ... and {} more problems not listed\n",
                self.suppressed
            ));
        }
        out.push_str(&format!(
            "VERIFICATION FAILED: {} problem(s)\n",
            self.failure_count()
        ));
        out
    }
}

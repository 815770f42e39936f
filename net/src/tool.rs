//! What the command-line tools that talk to a relay (`liaison`,
//! `liaison-admin`, `liaison-audit`) share: logging to standard error, a
//! single-threaded runtime, and how a failure is reported.

use std::error::Error;
use std::future::Future;
use std::process::ExitCode;

/// An error a tool reports: anything with a cause chain (`anyhow::Error`
/// in the binaries).
pub trait ToolError: std::fmt::Display + AsRef<dyn Error + Send + Sync + 'static> {}

impl<E: std::fmt::Display + AsRef<dyn Error + Send + Sync + 'static>> ToolError for E {}

/// Run `fut` as a tool's whole work. Logs go to standard error (filter
/// `LIAISON_LOG`, default warnings). An error is printed as
/// `NAME: cause: cause…`, followed by `hint` if it gives one, and exits
/// with `error_code`; a closed output pipe (`… | head`) is success.
pub fn main_with<T, E: ToolError>(
    name: &str,
    error_code: u8,
    fut: impl Future<Output = Result<T, E>>,
    ok: impl FnOnce(T) -> ExitCode,
    hint: impl FnOnce(&E) -> Option<String>,
) -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LIAISON_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        // No colour codes when standard error is a file or the journal.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{name}: cannot start the runtime: {e}");
            return ExitCode::from(error_code);
        }
    };
    match rt.block_on(fut) {
        Ok(v) => ok(v),
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {}", chain(e.as_ref()));
            if let Some(h) = hint(&e) {
                eprintln!("hint: {h}");
            }
            ExitCode::from(error_code)
        }
    }
}

/// `error: cause: cause…`, one line.
pub fn chain(e: &(dyn Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        next = cause.source();
    }
    out
}

/// Whether the error is a write to a closed pipe.
pub fn is_broken_pipe<E: ToolError>(e: &E) -> bool {
    let mut next: Option<&(dyn Error + 'static)> = Some(e.as_ref());
    while let Some(cause) = next {
        if cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
        {
            return true;
        }
        next = cause.source();
    }
    false
}

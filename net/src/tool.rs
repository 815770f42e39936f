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
/// `NAME: cause: cause…`, followed by `hint` if it gives one (or else, for
/// a relay's rate-limit refusal, [`retry_hint`]), and exits with
/// `error_code`; a closed output pipe (`… | head`) is success.
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
            if let Some(h) = hint(&e).or_else(|| retry_hint(e.as_ref())) {
                eprintln!("hint: {h}");
            }
            ExitCode::from(error_code)
        }
    }
}

/// What to do after `e`, if the relay refused a request because of its
/// rate limits (anywhere in the cause chain).
pub fn retry_hint(e: &(dyn Error + 'static)) -> Option<String> {
    let mut next = Some(e);
    while let Some(cause) = next {
        if let Some(link) = cause.downcast_ref::<crate::LinkError>() {
            return link_retry_hint(link);
        }
        next = cause.source();
    }
    None
}

/// What to do after a relay's rate-limit refusal.
pub fn link_retry_hint(e: &crate::LinkError) -> Option<String> {
    match e.refusal() {
        Some(w) if w.code == liaison_protocol::frames::ErrorCode::RateLimited => Some(
            "the relay limits how many requests one address or focal point may make; \
             nothing was changed: wait the time it names, then run the same command again"
                .to_owned(),
        ),
        _ => None,
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

//! What the three command-line tools share: logging to standard error, a
//! single-threaded runtime, and how a failure is reported.

use std::future::Future;
use std::process::ExitCode;

/// Run `fut` as a tool's whole work. Logs go to standard error (filter
/// `LIAISON_LOG`, default warnings). An error is printed as
/// `NAME: cause: cause…`, followed by `hint` if it gives one, and exits
/// with `error_code`; a closed output pipe (`… | head`) is success.
pub fn main_with<T>(
    name: &str,
    error_code: u8,
    fut: impl Future<Output = anyhow::Result<T>>,
    ok: impl FnOnce(T) -> ExitCode,
    hint: impl FnOnce(&anyhow::Error) -> Option<String>,
) -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LIAISON_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
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
            eprintln!("{name}: {e:#}");
            if let Some(h) = hint(&e) {
                eprintln!("hint: {h}");
            }
            ExitCode::from(error_code)
        }
    }
}

/// Whether the error is a write to a closed pipe.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

//! Printing to stdout, where the reader may go away before the end.

use std::io::Write as _;

/// Print one line on stdout. If the reader closed the pipe (`| head -1`),
/// everything it wanted was printed: exit 0 at once, as a well-behaved
/// filter does. Any other failure to write is an error (exit 1).
pub fn line(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    let written = out.write_fmt(args).and_then(|()| out.write_all(b"\n"));
    match written {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "liaison: writing to stdout: {e}");
            std::process::exit(1)
        }
    }
}

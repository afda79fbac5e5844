//! Printing that survives a closed pipe.
//!
//! `println!` panics when stdout is a pipe whose reader went away
//! (`watchdog-host verify DIR | head -1`). The command's work is not wrong
//! for that, so its output stops quietly and the command ends with its own
//! exit code; `eprintln!` is replaced the same way for stderr.

use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether stdout stopped taking output.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Prints a line on stdout, unless it stopped taking output.
pub fn out(line: fmt::Arguments) {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout
        .write_fmt(line)
        .and_then(|()| stdout.write_all(b"\n"))
    {
        STDOUT_CLOSED.store(true, Ordering::Relaxed);
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            err(format_args!("cannot print the output: {e}"));
        }
    }
}

/// Prints a line on stderr; a stderr that cannot take it is ignored.
pub fn err(line: fmt::Arguments) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// `println!` for the CLI: see the module.
macro_rules! outln {
    () => {
        $crate::cli::print::out(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::cli::print::out(format_args!($($arg)*))
    };
}

/// `eprintln!` for the CLI: see the module.
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::cli::print::err(format_args!($($arg)*))
    };
}

pub(crate) use {errln, outln};

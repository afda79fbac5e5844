//! Printing that survives a closed pipe and never lets plugin-written text
//! act on the terminal.
//!
//! `println!` panics when stdout is a pipe whose reader went away
//! (`watchdog-host verify DIR | head -1`). The command's work is not wrong
//! for that, so its output stops quietly and the command ends with its own
//! exit code; `eprintln!` is replaced the same way for stderr.

use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use watchdog_host::terminal::escape;

/// Whether stdout stopped taking output.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Prints a line on stdout, unless it stopped taking output. Much of what
/// the CLI prints is plugin-written (manifest strings, check titles,
/// findings, warnings, errors), so control and bidirectional characters are
/// escaped ([`watchdog_host::terminal`]).
pub fn out(line: fmt::Arguments) {
    out_raw(format_args!("{}", escape_lines(&line.to_string())));
}

/// The text with hazards escaped line by line: the CLI's own line breaks
/// stay.
fn escape_lines(text: &str) -> String {
    text.split('\n')
        .map(|line| escape(line))
        .collect::<Vec<_>>()
        .join("\n")
}

/// [`out`] for text already made safe, such as JSON whose hazards are
/// `\u` escapes.
pub fn out_raw(line: fmt::Arguments) {
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

/// Prints a line on stderr, escaped as [`out`] does; a stderr that cannot
/// take it is ignored.
pub fn err(line: fmt::Arguments) {
    let _ = writeln!(std::io::stderr(), "{}", escape_lines(&line.to_string()));
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

/// [`out_raw`] as a macro.
macro_rules! outln_raw {
    ($($arg:tt)*) => {
        $crate::cli::print::out_raw(format_args!($($arg)*))
    };
}

/// `eprintln!` for the CLI: see the module.
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::cli::print::err(format_args!($($arg)*))
    };
}

pub(crate) use {errln, outln, outln_raw};

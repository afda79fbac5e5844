//! The `watchdog-host` command line: a manual in `--help`, readable tables,
//! `--json` for machines, and exit codes that tell failure kinds apart.

mod cli;

use clap::Parser;
use cli::print::errln;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = cli::Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            errln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(watchdog_host::run::exit::HOST);
        }
    };
    ExitCode::from(runtime.block_on(cli::run(args)))
}

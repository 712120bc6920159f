//! `sluice`: runs declarative pipelines (`run`), checks them (`validate`), draws them (`graph`)
//! and runs the unit tests written beside them (`test`); enqueues and manages durable jobs
//! (`jobs`) and runs them (`worker`).

// The command prints reports and problems on standard error: that is its interface.
#![allow(clippy::print_stderr)]

mod admin;
mod cli;
mod commands;
mod live;
mod progress;
mod telemetry;
mod traces;

use std::process::ExitCode;

use clap::Parser;

/// A faster allocator: pipelines allocate many small, short-lived values.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = cli::Args::parse();
    telemetry::init(args.log_format, args.quiet);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::execute(args)) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

//! `sluice ui`: the web console over a job store, with no worker running.

use std::process::ExitCode;

use clap::Args as ClapArgs;

use super::store::{StoreArg, open};
use crate::admin::{self, UiArgs};

/// `sluice ui`.
#[derive(Debug, ClapArgs)]
pub(crate) struct UiCommandArgs {
    #[command(flatten)]
    store: StoreArg,
    #[command(flatten)]
    serve: UiArgs,
}

/// Serves the console until Ctrl-C or SIGTERM.
pub(crate) async fn ui(args: UiCommandArgs) -> anyhow::Result<ExitCode> {
    let store = open(&args.store, None).await?;
    admin::ui(&args.serve, store).await?;
    Ok(ExitCode::SUCCESS)
}

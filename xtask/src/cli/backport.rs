use anyhow::Result;

use super::{Context, Outcome};

/// Bring upstream fix commits onto the fork branch.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args, _ctx: &Context) -> Result<Outcome> {
    Ok(Outcome::Success)
}

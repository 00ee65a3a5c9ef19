//! `trusted-root update`: the one command that asks the network for trust material, over TUF.

use std::path::PathBuf;

use anyhow::{Context, bail};
use modelseal::sigstore::refresh::{self, Repository};
use modelseal::sigstore::trust;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Fetch the Sigstore trusted root over TUF (verified from a pinned TUF root) and write
    /// it for `--trusted-root`.
    Update(UpdateArgs),
}

#[derive(clap::Args)]
pub struct UpdateArgs {
    /// Where to write `trusted_root.json` (replaced atomically).
    #[arg(long, short = 'o', value_name = "FILE")]
    output: PathBuf,
    /// The public-good staging instance instead of production.
    #[arg(long, conflicts_with = "tuf_url")]
    staging: bool,
    /// Another TUF repository (needs --tuf-root).
    #[arg(long, value_name = "URL", requires = "tuf_root")]
    tuf_url: Option<String>,
    /// The TUF root (root.json) to trust that repository from.
    #[arg(long, value_name = "FILE", requires = "tuf_url")]
    tuf_root: Option<PathBuf>,
    /// Where verified TUF metadata is kept between updates (default
    /// $XDG_CACHE_HOME/modelseal/tuf/…, else ~/.cache/modelseal/tuf/…).
    #[arg(long, value_name = "DIR")]
    cache: Option<PathBuf>,
}

pub fn run(command: Command) -> anyhow::Result<()> {
    let Command::Update(args) = command;
    let repository = match (&args.tuf_url, &args.tuf_root, args.staging) {
        (Some(url), Some(root), _) => Repository::Custom {
            url: url.clone(),
            root: modelseal::files::read_limited(root, 1 << 20)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", root.display()))?,
        },
        (None, None, true) => Repository::Staging,
        (None, None, false) => Repository::PublicGood,
        _ => bail!("give --tuf-url and --tuf-root together"),
    };
    let cache = args
        .cache
        .clone()
        .or_else(|| refresh::default_cache(&repository));
    let bytes = refresh::fetch(&repository, cache.as_deref()).map_err(anyhow::Error::msg)?;
    // What TUF vouched for must also be a usable trusted root before it replaces anything.
    trust::parse(&bytes)
        .and_then(|root| trust::verifier_over(&root))
        .map_err(anyhow::Error::msg)
        .context("the repository's trusted_root.json cannot be used")?;
    super::keys::write_atomically(&args.output, &bytes, 0o644)?;
    eprintln!(
        "Wrote {} ({} bytes), verified over TUF",
        args.output.display(),
        bytes.len()
    );
    Ok(())
}

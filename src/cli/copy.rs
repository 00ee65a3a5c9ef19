//! `copy SRC DST` (also `push` and `pull`).

use anyhow::bail;
use modelseal::copy::{Transfer, copy};
use modelseal::oci::Access;
use modelseal::reference::Reference;
use serde_json::json;

use super::output::{OutputFormat, print_json, progress_bar};

#[derive(clap::Args)]
pub struct Args {
    /// The artifact to copy, e.g. `oci:./models:v1` or `registry.example.com/models/llama:1`.
    source: Reference,
    /// Where to copy it; its tag defaults to the source's.
    destination: Reference,
    #[arg(long, value_enum, default_value_t)]
    output: OutputFormat,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.destination.target.digest.is_some() {
        bail!("the destination names a tag (or nothing), not a digest: the digest is the source's");
    }
    let src = super::open_store(&args.source, Access::Read)?;
    let subject = src.resolve(&args.source.target)?;
    let tag = args
        .destination
        .target
        .tag
        .clone()
        .or_else(|| args.source.target.tag.clone())
        .or_else(|| {
            args.source
                .target
                .digest
                .is_none()
                .then(|| args.source.target.tag_or_default().to_string())
        });
    let dst = super::open_store(&args.destination, Access::Write)?;
    let bar = progress_bar("copying", 0);
    let progress = |transfer: Transfer| match transfer {
        Transfer::Planned(size) => bar.inc_length(size),
        Transfer::Sent(n) => bar.inc(n),
    };
    let copied = copy(
        src.as_ref(),
        dst.as_ref(),
        &subject,
        tag.as_deref(),
        &progress,
    );
    bar.finish_and_clear();
    let copied = copied?;
    let pinned = args.destination.pinned(subject.digest.clone());
    match args.output {
        OutputFormat::Json => print_json(&json!({
            "source": args.source.to_string(),
            "destination": args.destination.to_string(),
            "digest": subject.digest,
            "manifests": copied.manifests,
            "blobs": copied.blobs,
            "blobsSkipped": copied.blobs_skipped,
            "blobsMounted": copied.blobs_mounted,
            "bytes": copied.bytes,
            "referrers": copied.referrers,
            "tags": copied.tags,
        })),
        OutputFormat::Text => {
            eprintln!(
                "Copied {} to {} with {} referrers and {} signature tags: {} manifests, {} blobs ({} already there, {} mounted)",
                args.source,
                args.destination,
                copied.referrers,
                copied.tags.len(),
                copied.manifests,
                copied.blobs,
                copied.blobs_skipped,
                copied.blobs_mounted
            );
            outln!("{pinned}");
            Ok(())
        }
    }
}

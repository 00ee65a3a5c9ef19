//! `verify-bundle` (also `verify-blob`): a Sigstore bundle over a file or digest, as the
//! Sigstore conformance suite drives a client.

use std::path::PathBuf;

use anyhow::bail;
use modelseal::sigstore::{BundleError, Signer, Subject, verify_bundle};

use super::identity::{IdentityArgs, KEYLESS_LOG_ALWAYS};

use super::Rejected;
use super::inspect::printable;

#[derive(clap::Args)]
pub struct Args {
    /// The Sigstore bundle (`.sigstore.json`).
    #[arg(long)]
    bundle: PathBuf,
    /// A public key (PEM) the bundle must be signed with, instead of an identity.
    #[arg(long, conflicts_with_all = ["certificate_identity", "certificate_identity_regexp"])]
    key: Option<PathBuf>,
    #[command(flatten)]
    identity: IdentityArgs,
    /// The signed file, or `sha256:<hex>`.
    file_or_digest: String,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let signer = match &args.key {
        Some(path) => Signer::Key {
            pem: String::from_utf8(super::args::read_key_file(path)?.to_vec())?,
            ignore_tlog: args.identity.insecure_ignore_tlog,
        },
        None if args.identity.insecure_ignore_tlog => bail!(KEYLESS_LOG_ALWAYS),
        None => Signer::Identity(args.identity.identity()?),
    };
    let root = args.identity.root();
    let subject = Subject::parse(&args.file_or_digest);
    match verify_bundle(&args.bundle, &subject, &signer, &root) {
        Ok(verified) => {
            let who = match (&verified.identity, &verified.issuer) {
                (Some(identity), Some(issuer)) => format!(" by {identity} ({issuer})"),
                _ => " with the key".to_string(),
            };
            let when = verified
                .integrated_time
                .map(|t| format!(", logged {t}"))
                .unwrap_or_default();
            outln!(
                "Verified {}{}{}",
                printable(&args.file_or_digest),
                printable(&who),
                when
            );
            Ok(())
        }
        Err(BundleError::Rejected(reason)) => Err(Rejected(format!(
            "{} does not verify: {reason}",
            args.bundle.display()
        ))
        .into()),
        Err(BundleError::Input(reason)) => bail!(reason),
    }
}

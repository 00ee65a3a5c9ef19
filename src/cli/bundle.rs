//! `verify-bundle` (also `verify-blob`): a Sigstore bundle over a file or digest, as the
//! Sigstore conformance suite drives a client.

use std::path::PathBuf;

use anyhow::bail;
use modelseal::sigstore::{BundleError, Matcher, Signer, Subject, TrustRoot, verify_bundle};

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
    /// The signer's identity (the certificate's subject alternative name), exactly.
    #[arg(long)]
    certificate_identity: Option<String>,
    /// The signer's identity as a regular expression matched against the whole value.
    #[arg(long, conflicts_with = "certificate_identity")]
    certificate_identity_regexp: Option<String>,
    /// The OIDC issuer of the identity, exactly.
    #[arg(long)]
    certificate_oidc_issuer: Option<String>,
    /// The OIDC issuer as a regular expression matched against the whole value.
    #[arg(long, conflicts_with = "certificate_oidc_issuer")]
    certificate_oidc_issuer_regexp: Option<String>,
    /// A Sigstore `trusted_root.json`; the public-good production root by default.
    #[arg(long, conflicts_with = "staging")]
    trusted_root: Option<PathBuf>,
    /// Use the public-good staging root.
    #[arg(long)]
    staging: bool,
    /// The signed file, or `sha256:<hex>`.
    file_or_digest: String,
}

fn matcher(exact: &Option<String>, regexp: &Option<String>, what: &str) -> anyhow::Result<Matcher> {
    match (exact, regexp) {
        (Some(exact), _) => Ok(Matcher::Exact(exact.clone())),
        (None, Some(regexp)) => Matcher::regexp(regexp).map_err(anyhow::Error::msg),
        (None, None) => bail!("give --key, or --certificate-{what} (or its -regexp form)"),
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let signer = match &args.key {
        Some(path) => Signer::Key(String::from_utf8(
            super::args::read_key_file(path)?.to_vec(),
        )?),
        None => Signer::Identity {
            identity: matcher(
                &args.certificate_identity,
                &args.certificate_identity_regexp,
                "identity",
            )?,
            issuer: matcher(
                &args.certificate_oidc_issuer,
                &args.certificate_oidc_issuer_regexp,
                "oidc-issuer",
            )?,
        },
    };
    let root = match (&args.trusted_root, args.staging) {
        (Some(path), _) => TrustRoot::File(path.clone()),
        (None, true) => TrustRoot::Staging,
        (None, false) => TrustRoot::Production,
    };
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

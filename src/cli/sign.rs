//! `sign` and `verify`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use modelseal::oci::Access;
use modelseal::reference::{Location, Reference};
use modelseal::sign::{SignRequest, Signed, sign};
use modelseal::signature::Format;
use modelseal::sigstore::SigstoreSigner;
use modelseal::verify::{Authority, Expectations, Verification, verify_signatures};
use serde_json::json;

use super::Rejected;
use super::args::{annotation_map, parse_annotation};
use super::identity::{IdentityArgs, SignerName, authority};
use super::inspect::printable;
use super::output::{OutputFormat, print_json};
use super::signing::SigningArgs;

#[derive(clap::Args)]
pub struct SignArgs {
    #[command(flatten)]
    signing: SigningArgs,
    /// The artifact; a tag is resolved once and the digest is signed.
    reference: Reference,
    /// `bundle` (cosign v3: a Sigstore bundle referrer) or `legacy` (cosign v2: the `.sig` tag).
    #[arg(long, default_value = "bundle", value_parser = clap::value_parser!(Format))]
    format: Format,
    /// Annotation to sign along (repeatable).
    #[arg(short = 'a', long = "annotations", value_name = "KEY=VALUE", value_parser = parse_annotation)]
    annotations: Vec<(String, String)>,
    #[arg(long, value_enum, default_value_t)]
    output: OutputFormat,
}

#[derive(clap::Args)]
pub struct VerifyArgs {
    /// The public key (PKIX PEM, as `cosign.pub`); or give a keyless identity.
    #[arg(long, conflicts_with = "policy")]
    key: Option<PathBuf>,
    #[command(flatten)]
    identity: IdentityArgs,
    /// Decide by this admission policy (YAML or JSON) instead of one signer.
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Evaluate the policy as of this time (RFC 3339) instead of now.
    #[arg(long, value_name = "TIME", requires = "policy")]
    at: Option<String>,
    /// The artifact; a tag is resolved once and that digest is verified.
    reference: Reference,
    /// Annotation the signature must carry (repeatable); not with --policy.
    #[arg(short = 'a', long = "annotations", value_name = "KEY=VALUE", value_parser = parse_annotation, conflicts_with = "policy")]
    annotations: Vec<(String, String)>,
    #[arg(long, value_enum, default_value_t)]
    output: OutputFormat,
}

/// The repository a legacy payload names: the registry repository, or the layout directory.
pub fn repository_name(reference: &Reference) -> String {
    match &reference.location {
        Location::Registry { host, repository } => format!("{host}/{repository}"),
        Location::Layout(path) => format!("oci:{}", path.display()),
    }
}

/// Resolves `reference` once and signs the digest; returns the pinned reference.
pub fn sign_reference(
    reference: &Reference,
    signer: &SigstoreSigner<'_>,
    format: Format,
    annotations: &BTreeMap<String, String>,
) -> anyhow::Result<(Reference, Signed)> {
    let store = super::open_store(reference, Access::Read)?;
    let subject = store.resolve(&reference.target)?;
    let repository = repository_name(reference);
    let signed = sign(
        store.as_ref(),
        &subject,
        &SignRequest {
            signer,
            format,
            annotations,
            repository: &repository,
        },
    )?;
    Ok((reference.pinned(subject.digest), signed))
}

pub fn run_sign(args: SignArgs) -> anyhow::Result<()> {
    let annotations = annotation_map(&args.annotations)?;
    let (pinned, signed) = args
        .signing
        .prepare()?
        .with_signer(|signer| sign_reference(&args.reference, signer, args.format, &annotations))?;
    let subject_digest = pinned.target.digest.clone();
    match args.output {
        OutputFormat::Json => print_json(&json!({
            "reference": args.reference.to_string(),
            "digest": subject_digest,
            "format": signed.format,
            "manifest": signed.manifest.digest,
            "tag": signed.tag,
            "added": signed.added,
        })),
        OutputFormat::Text => {
            let place = match &signed.tag {
                Some(tag) => format!("tag {tag} (manifest {})", signed.manifest.digest),
                None => format!("referrer {}", signed.manifest.digest),
            };
            if signed.added {
                eprintln!("Signed {pinned} ({} format): {place}", signed.format);
            } else {
                eprintln!("{pinned} already carries this signature: {place}");
            }
            outln!("{}", signed.manifest.digest);
            Ok(())
        }
    }
}

/// Resolves `reference` once and verifies the signatures of that digest.
pub fn verify_reference(
    reference: &Reference,
    authority: &Authority,
    annotations: &BTreeMap<String, String>,
) -> anyhow::Result<(Reference, Verification)> {
    let store = super::open_store(reference, Access::Read)?;
    let subject = store.resolve(&reference.target)?;
    let expect = Expectations {
        authority,
        annotations,
    };
    let verification = verify_signatures(store.as_ref(), &subject, &expect)?;
    Ok((reference.pinned(subject.digest), verification))
}

pub fn run_verify(args: VerifyArgs) -> anyhow::Result<()> {
    if let Some(policy) = &args.policy {
        if args.identity.any_given() {
            anyhow::bail!(
                "a policy names its own authorities and trusted roots: drop the certificate, --trusted-root, --staging and --insecure-ignore-tlog flags, or --policy"
            );
        }
        return super::policy::decide(&args.reference, policy, args.at.as_deref(), args.output);
    }
    let (authority, key_name) = authority(args.key.as_deref(), &args.identity)
        .map_err(|e| e.context("give --key PUB, a certificate identity, or --policy FILE"))?;
    let annotations = annotation_map(&args.annotations)?;
    let (pinned, verification) = verify_reference(&args.reference, &authority, &annotations)?;
    match args.output {
        OutputFormat::Json => print_json(&report_json(&args.reference, &key_name, &verification))?,
        OutputFormat::Text => print_report(&pinned, &key_name, &verification),
    }
    outcome(&pinned, &key_name, &verification)
}

/// Exit 0 when a signature verified, else a rejection that says why.
pub fn outcome(
    pinned: &Reference,
    key_name: &SignerName,
    verification: &Verification,
) -> anyhow::Result<()> {
    if verification.is_verified() {
        return Ok(());
    }
    let reason = if verification.signatures.is_empty() {
        format!("{pinned} has no signatures")
    } else {
        format!("no signature of {pinned} verifies with {key_name}")
    };
    Err(Rejected(reason).into())
}

fn report_json(
    reference: &Reference,
    signer: &SignerName,
    verification: &Verification,
) -> serde_json::Value {
    json!({
        "reference": reference.to_string(),
        "digest": verification.subject.digest,
        "verified": verification.is_verified(),
        "key": signer.key(),
        "identity": signer.identity(),
        "signatures": verification.signatures.iter().map(|s| json!({
            "format": s.format,
            "digest": s.source.digest,
            "mediaType": s.source.media_type,
            "created": s.created,
            "verified": s.outcome.is_ok(),
            "logged": s.logged,
            "reason": s.outcome.as_ref().err(),
        })).collect::<Vec<_>>(),
    })
}

pub fn print_report(pinned: &Reference, key: &SignerName, verification: &Verification) {
    outln!("Verifying {pinned} with {key}");
    for s in &verification.signatures {
        let what = match s.format {
            Format::Bundle => "referrer",
            Format::Legacy => "sig layer",
        };
        match &s.outcome {
            Ok(()) => {
                let when = s
                    .created
                    .as_deref()
                    .map(|c| format!(", created {} (as the referrer claims)", printable(c)))
                    .unwrap_or_default();
                outln!(
                    "  verified  {:<6} {what} {}{when}{}",
                    s.format,
                    s.source.digest,
                    logged(s.logged.as_deref())
                );
            }
            Err(reason) => outln!(
                "  rejected  {:<6} {what} {}: {}",
                s.format,
                s.source.digest,
                printable(reason)
            ),
        }
    }
    let verified = verification
        .signatures
        .iter()
        .filter(|s| s.outcome.is_ok())
        .count();
    outln!(
        "{verified} of {} signatures verified",
        verification.signatures.len()
    );
}

/// `, logged TIME (transparency log)` for a verified signature or attestation a log recorded.
pub fn logged(time: Option<&str>) -> String {
    time.map(|t| format!(", logged {} (transparency log)", printable(t)))
        .unwrap_or_default()
}

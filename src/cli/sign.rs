//! `sign` and `verify`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use modelseal::keys::{PrivateKey, PublicKey};
use modelseal::oci::Access;
use modelseal::reference::{Location, Reference};
use modelseal::sign::{SignRequest, Signed, sign};
use modelseal::signature::Format;
use modelseal::verify::{Expectations, Verification, verify_signatures};
use serde_json::json;

use super::Rejected;
use super::args::{annotation_map, key_id, parse_annotation, read_public_key};
use super::inspect::printable;
use super::output::{OutputFormat, print_json};

#[derive(clap::Args)]
pub struct SignArgs {
    /// The private key (cosign's encrypted format, or PKCS#8 / SEC1 PEM).
    #[arg(long)]
    key: PathBuf,
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
    /// The public key (PKIX PEM, as `cosign.pub`).
    #[arg(long, required_unless_present = "policy", conflicts_with = "policy")]
    key: Option<PathBuf>,
    /// Decide by this admission policy (YAML or JSON) instead of one key.
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
    key: &PrivateKey,
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
            key,
            format,
            annotations,
            repository: &repository,
        },
    )?;
    Ok((reference.pinned(subject.digest), signed))
}

pub fn run_sign(args: SignArgs) -> anyhow::Result<()> {
    let key = super::keys::read_private_key(&args.key)?;
    let annotations = annotation_map(&args.annotations)?;
    let (pinned, signed) = sign_reference(&args.reference, &key, args.format, &annotations)?;
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
    key: &PublicKey,
    annotations: &BTreeMap<String, String>,
) -> anyhow::Result<(Reference, Verification)> {
    let store = super::open_store(reference, Access::Read)?;
    let subject = store.resolve(&reference.target)?;
    let verification =
        verify_signatures(store.as_ref(), &subject, &Expectations { key, annotations })?;
    Ok((reference.pinned(subject.digest), verification))
}

pub fn run_verify(args: VerifyArgs) -> anyhow::Result<()> {
    let key = match (&args.key, &args.policy) {
        (_, Some(policy)) => {
            return super::policy::decide(&args.reference, policy, args.at.as_deref(), args.output);
        }
        (Some(key), None) => key,
        (None, None) => anyhow::bail!("give --key PUB or --policy FILE"),
    };
    let key = read_public_key(key)?;
    let annotations = annotation_map(&args.annotations)?;
    let (pinned, verification) = verify_reference(&args.reference, &key, &annotations)?;
    let key_name = key_id(&key)?;
    match args.output {
        OutputFormat::Json => print_json(&report_json(&args.reference, &key_name, &verification))?,
        OutputFormat::Text => print_report(&pinned, &key_name, &verification),
    }
    outcome(&pinned, &key_name, &verification)
}

/// Exit 0 when a signature verified, else a rejection that says why.
pub fn outcome(
    pinned: &Reference,
    key_name: &str,
    verification: &Verification,
) -> anyhow::Result<()> {
    if verification.is_verified() {
        return Ok(());
    }
    let reason = if verification.signatures.is_empty() {
        format!("{pinned} has no signatures")
    } else {
        format!("no signature of {pinned} verifies with key {key_name}")
    };
    Err(Rejected(reason).into())
}

fn report_json(reference: &Reference, key: &str, verification: &Verification) -> serde_json::Value {
    json!({
        "reference": reference.to_string(),
        "digest": verification.subject.digest,
        "verified": verification.is_verified(),
        "key": key,
        "signatures": verification.signatures.iter().map(|s| json!({
            "format": s.format,
            "digest": s.source.digest,
            "mediaType": s.source.media_type,
            "created": s.created,
            "verified": s.outcome.is_ok(),
            "reason": s.outcome.as_ref().err(),
        })).collect::<Vec<_>>(),
    })
}

pub fn print_report(pinned: &Reference, key: &str, verification: &Verification) {
    outln!("Verifying {pinned} with key {key}");
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
                    "  verified  {:<6} {what} {}{when}",
                    s.format,
                    s.source.digest
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

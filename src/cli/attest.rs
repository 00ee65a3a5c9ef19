//! `attest` and `verify-attestation`.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use modelseal::attest::attach::{AttestRequest, attest};
use modelseal::attest::predicate::{self, MAX_PREDICATE_BYTES};
use modelseal::attest::verify::{CheckedAttestation, verify_attestations};
use modelseal::clock::now_text;
use modelseal::files::read_limited;
use modelseal::modelpack::ModelPack;
use modelseal::oci::{Access, Descriptor, Store};
use modelseal::reference::Reference;
use modelseal::scan::SCAN_PREDICATE_TYPE;
use modelseal::scan::import::{MAX_REPORT_BYTES, ReportKind, import};
use modelseal::sign::Signed;
use modelseal::signature::Format;
use serde_json::{Value, json};

use super::Rejected;
use super::identity::{IdentityArgs, SignerName, authority};
use super::inspect::printable;
use super::output::{OutputFormat, print_json};
use super::sign::repository_name;
use super::signing::{Prepared, SigningArgs};

#[derive(clap::Args)]
pub struct AttestArgs {
    #[command(flatten)]
    signing: SigningArgs,
    /// The predicate type: one of cosign's names (slsaprovenance, slsaprovenance02,
    /// slsaprovenance1, spdx, spdxjson, cyclonedx, link, vuln, openvex, custom) or a URI.
    #[arg(long = "type", value_name = "TYPE")]
    predicate_type: String,
    /// The predicate: a JSON object (for `custom`, any text).
    #[arg(long, required_unless_present = "import", conflicts_with = "import")]
    predicate: Option<PathBuf>,
    /// With `--type scan`: another scanner's report about the ModelPack's files, turned into
    /// the scan predicate: `modelscan:REPORT.json` or `picklescan:OUTPUT.txt`.
    #[arg(long = "import", value_name = "KIND:FILE")]
    import: Option<String>,
    /// The artifact; a tag is resolved once and the digest is attested.
    reference: Reference,
    /// `bundle` (cosign v3: a Sigstore bundle referrer) or `legacy` (cosign v2: the `.att` tag).
    #[arg(long, default_value = "bundle", value_parser = clap::value_parser!(Format))]
    format: Format,
    #[arg(long, value_enum, default_value_t)]
    output: OutputFormat,
}

#[derive(clap::Args)]
pub struct VerifyAttestationArgs {
    /// The public key (PKIX PEM, as `cosign.pub`); or give a keyless identity.
    #[arg(long)]
    key: Option<PathBuf>,
    #[command(flatten)]
    identity: IdentityArgs,
    /// The predicate type the attestation must have (a cosign name or a URI).
    #[arg(long = "type", value_name = "TYPE")]
    predicate_type: String,
    /// The artifact; a tag is resolved once and that digest is checked.
    reference: Reference,
    #[arg(long, value_enum, default_value_t)]
    output: OutputFormat,
}

/// Reads a file of at most `limit` bytes (the most `what` may be).
fn read_bounded(path: &Path, limit: u64, what: &str) -> anyhow::Result<Vec<u8>> {
    read_limited(path, limit)
        .map_err(|e| anyhow::anyhow!("cannot read {} ({what}): {e}", path.display()))
}

/// The scan predicate from another scanner's report (`KIND:FILE`) about `pack`'s files.
fn imported_scan(pack: &ModelPack, spec: &str) -> anyhow::Result<Value> {
    let Some((kind, path)) = spec.split_once(':') else {
        bail!("--import takes KIND:FILE, e.g. modelscan:report.json");
    };
    let kind: ReportKind = kind.parse().map_err(anyhow::Error::msg)?;
    let bytes = read_bounded(Path::new(path), MAX_REPORT_BYTES, "a report")?;
    let scan = import(kind, &bytes, pack).with_context(|| format!("cannot import {path}"))?;
    let now = now_text();
    Ok(scan.predicate(&now, &now))
}

pub fn run_attest(args: AttestArgs) -> anyhow::Result<()> {
    // Everything that can be wrong with the input is found before anything is written.
    let predicate_type = predicate::resolve_type(&args.predicate_type)?;
    let store = super::open_store(&args.reference, Access::Read)?;
    // The reference is resolved once: what is attested is the digest the predicate is about.
    let (predicate, subject) = match (&args.predicate, &args.import) {
        (_, Some(spec)) => {
            if predicate_type != SCAN_PREDICATE_TYPE {
                bail!("--import makes a scan result: use it with --type scan");
            }
            let pack = super::inspect::read(&args.reference)?;
            (imported_scan(&pack, spec)?, pack.descriptor)
        }
        (Some(path), None) => {
            let bytes = read_bounded(path, MAX_PREDICATE_BYTES, "a predicate")?;
            let predicate = predicate::from_file(&predicate_type, &bytes, &now_text())
                .with_context(|| format!("cannot use {} as the predicate", path.display()))?;
            (predicate, store.resolve(&args.reference.target)?)
        }
        (None, None) => bail!("give --predicate FILE (or --import with --type scan)"),
    };
    let attached = sign_and_attach(
        &args.signing.prepare()?,
        store.as_ref(),
        &subject,
        &args.reference,
        args.format,
        &predicate_type,
        predicate,
    )?;
    let pinned = args.reference.pinned(subject.digest.clone());
    match args.output {
        OutputFormat::Json => print_json(&json!({
            "reference": args.reference.to_string(),
            "digest": subject.digest,
            "predicateType": predicate_type,
            "format": attached.format,
            "manifest": attached.manifest.digest,
            "tag": attached.tag,
            "added": attached.added,
        })),
        OutputFormat::Text => {
            let place = match &attached.tag {
                Some(tag) => format!("tag {tag} (manifest {})", attached.manifest.digest),
                None => format!("referrer {}", attached.manifest.digest),
            };
            eprintln!(
                "Attested {pinned} ({predicate_type}, {} format): {place}",
                attached.format
            );
            outln!("{}", attached.manifest.digest);
            Ok(())
        }
    }
}

pub fn run_verify_attestation(args: VerifyAttestationArgs) -> anyhow::Result<()> {
    let predicate_type = predicate::resolve_type(&args.predicate_type)?;
    let (authority, key_name) = authority(args.key.as_deref(), &args.identity)?;
    let store = super::open_store(&args.reference, Access::Read)?;
    let subject = store.resolve(&args.reference.target)?;
    let checked = verify_attestations(store.as_ref(), &subject, &authority, &predicate_type)?;
    let pinned = args.reference.pinned(subject.digest.clone());
    let verified = checked.iter().filter(|c| c.outcome.is_ok()).count();
    match args.output {
        OutputFormat::Json => print_json(&json!({
            "reference": args.reference.to_string(),
            "digest": subject.digest,
            "predicateType": predicate_type,
            "verified": verified > 0,
            "key": key_name.key(),
            "identity": key_name.identity(),
            "attestations": checked.iter().map(attestation_json).collect::<Vec<_>>(),
        }))?,
        OutputFormat::Text => print_report(&pinned, &key_name, &predicate_type, &checked),
    }
    if verified > 0 {
        return Ok(());
    }
    let reason = if checked.is_empty() {
        format!("{pinned} has no {predicate_type} attestations")
    } else {
        format!("no {predicate_type} attestation of {pinned} verifies with {key_name}")
    };
    Err(Rejected(reason).into())
}

fn attestation_json(checked: &CheckedAttestation) -> Value {
    json!({
        "format": checked.format,
        "digest": checked.source.digest,
        "mediaType": checked.source.media_type,
        "verified": checked.outcome.is_ok(),
        "logged": checked.logged,
        "reason": checked.outcome.as_ref().err(),
        "statement": checked.outcome.as_ref().ok(),
    })
}

pub fn print_report(
    pinned: &Reference,
    key: &SignerName,
    predicate_type: &str,
    checked: &[CheckedAttestation],
) {
    outln!("Verifying {predicate_type} attestations of {pinned} with {key}");
    for c in checked {
        let what = match c.format {
            Format::Bundle => "referrer",
            Format::Legacy => "att layer",
        };
        match &c.outcome {
            Ok(statement) => {
                outln!(
                    "  verified  {:<6} {what} {}{}",
                    c.format,
                    c.source.digest,
                    super::sign::logged(c.logged.as_deref())
                );
                // The verified statement, on one line, as it was signed.
                if let Ok(text) = serde_json::to_string(statement) {
                    outln!("    {}", printable(&text));
                }
            }
            Err(reason) => outln!(
                "  rejected  {:<6} {what} {}: {}",
                c.format,
                c.source.digest,
                printable(reason)
            ),
        }
    }
    let verified = checked.iter().filter(|c| c.outcome.is_ok()).count();
    outln!("{verified} of {} attestations verified", checked.len());
}

/// Signs `predicate` about `subject` (resolved once, by digest) with the prepared credentials
/// and attaches it in `format`: what `attest`, `scan --attest` and `provenance --attest` do.
pub fn sign_and_attach(
    signing: &Prepared,
    store: &dyn Store,
    subject: &Descriptor,
    reference: &Reference,
    format: Format,
    predicate_type: &str,
    predicate: Value,
) -> anyhow::Result<Signed> {
    let repository = repository_name(reference);
    signing.with_signer(|signer| {
        let request = AttestRequest {
            signer,
            format,
            predicate_type,
            predicate,
            repository: &repository,
        };
        Ok(attest(store, subject, request)?)
    })
}

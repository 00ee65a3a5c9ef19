//! `scan`: the built-in scanner over a ModelPack's layers, and its result as an attestation.

use modelseal::oci::Access;
use modelseal::reference::Reference;
use modelseal::scan::{SCAN_PREDICATE_TYPE, Scan, scan};
use modelseal::signature::Format;

use super::Rejected;
use super::attest::sign_and_attach;
use super::inspect::printable;
use super::output::{OutputFormat, print_json};
use super::signing::SigningArgs;

#[derive(clap::Args)]
pub struct Args {
    /// The ModelPack to scan; a tag is resolved once.
    reference: Reference,
    /// Also sign the result and attach it as an attestation (even when the model is flagged),
    /// with --key or --keyless.
    #[arg(long)]
    attest: bool,
    #[command(flatten)]
    signing: SigningArgs,
    /// `bundle` or `legacy`, for --attest.
    #[arg(long, default_value = "bundle", value_parser = clap::value_parser!(Format))]
    format: Format,
    #[arg(long, value_enum, default_value_t)]
    output: OutputFormat,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    // The key is read first, so that a bad key costs no scan.
    let signing = args.signing.prepare_if(args.attest)?;
    let started = modelseal::clock::now_text();
    let pack = super::inspect::read(&args.reference)?;
    let store = super::open_store(&args.reference, Access::Read)?;
    let result = scan(store.as_ref(), &pack)?;
    let predicate = result.predicate(&started, &modelseal::clock::now_text());
    let pinned = args.reference.pinned(pack.descriptor.digest.clone());
    match args.output {
        OutputFormat::Json => print_json(&predicate)?,
        OutputFormat::Text => print_report(&pinned, &result),
    }
    if let Some(signing) = signing {
        let attached = sign_and_attach(
            &signing,
            store.as_ref(),
            &pack.descriptor,
            &args.reference,
            args.format,
            SCAN_PREDICATE_TYPE,
            predicate,
        )?;
        eprintln!(
            "Attested {pinned} ({SCAN_PREDICATE_TYPE}, {} format): {}",
            attached.format, attached.manifest.digest
        );
    }
    if result.is_flagged() {
        return Err(Rejected(format!(
            "{pinned} is flagged: its most severe finding is {}",
            result
                .highest()
                .map(|s| format!("{s:?}").to_lowercase())
                .unwrap_or_default()
        ))
        .into());
    }
    Ok(())
}

fn print_report(pinned: &Reference, result: &Scan) {
    outln!("Scanning {pinned}");
    for layer in &result.layers {
        let name = layer.path.as_deref().unwrap_or("(no file path)");
        if layer.findings.is_empty() {
            outln!("  {:<40} {:<12} clean", printable(name), layer.format);
            continue;
        }
        outln!("  {:<40} {}", printable(name), layer.format);
        for finding in &layer.findings {
            let member = finding
                .member
                .as_deref()
                .map(|m| format!("{}: ", printable(m)))
                .unwrap_or_default();
            outln!(
                "    {:<8} {member}{}",
                format!("{:?}", finding.severity).to_lowercase(),
                printable(&finding.reason)
            );
        }
    }
    let verdict = result.verdict();
    outln!("{verdict}: {} findings", result.findings().count());
}

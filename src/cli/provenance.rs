//! `provenance`: SLSA provenance v1 for the build that produced a ModelPack.

use std::path::PathBuf;

use anyhow::Context;
use modelseal::attest::provenance::{
    BuildContext, BuildFile, ProvenanceInput, pinned_material, predicate,
};
use modelseal::attest::slsa::{PROVENANCE_V1, ResourceDescriptor};
use modelseal::oci::{Access, Digest};
use modelseal::reference::Reference;
use modelseal::signature::Format;

use super::attest::sign_and_attach;
use super::signing::SigningArgs;

#[derive(clap::Args)]
pub struct Args {
    /// The ModelPack the provenance is about; a tag is resolved once.
    reference: Reference,
    /// The directory that was packed, as the build names it.
    #[arg(long = "dir", value_name = "PATH")]
    directory: Option<String>,
    /// The Modelfile the ModelPack was built from (recorded with its digest).
    #[arg(long, value_name = "FILE", conflicts_with = "kitfile")]
    modelfile: Option<PathBuf>,
    /// The Kitfile the ModelKit was built from (recorded with its digest).
    #[arg(long, value_name = "FILE")]
    kitfile: Option<PathBuf>,
    /// A base model, dataset or other input: URI@sha256:<hex>, or an OCI reference (resolved
    /// to its digest). Repeatable.
    #[arg(long = "material", value_name = "REF_OR_URI")]
    materials: Vec<String>,
    /// Who ran the build (a URI); GitHub Actions and GitLab CI are recognised.
    #[arg(long)]
    builder_id: Option<String>,
    /// This run of the build (a URI or ID).
    #[arg(long)]
    invocation_id: Option<String>,
    #[arg(long)]
    source_repository: Option<String>,
    #[arg(long)]
    source_ref: Option<String>,
    #[arg(long)]
    source_commit: Option<String>,
    /// The workflow file that ran the build, relative to the source repository.
    #[arg(long = "workflow", value_name = "PATH")]
    workflow_path: Option<String>,
    /// When the build started (RFC 3339).
    #[arg(long)]
    started_on: Option<String>,
    /// When the build finished (RFC 3339); now by default.
    #[arg(long)]
    finished_on: Option<String>,
    /// Also sign the provenance and attach it to the ModelPack, with --key or --keyless.
    #[arg(long)]
    attest: bool,
    #[command(flatten)]
    signing: SigningArgs,
    /// `bundle` or `legacy`, for --attest.
    #[arg(long, default_value = "bundle", value_parser = clap::value_parser!(Format))]
    format: Format,
}

fn build_file(kind: &str, path: &PathBuf) -> anyhow::Result<BuildFile> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(BuildFile {
        kind: kind.to_string(),
        path: path.display().to_string(),
        digest: Digest::sha256_of(&bytes),
    })
}

/// A material pinned as given, or an OCI reference resolved to its digest.
fn material(text: &str) -> anyhow::Result<ResourceDescriptor> {
    if let Ok(pinned) = pinned_material(text) {
        return Ok(pinned);
    }
    let Ok(reference) = text.parse::<Reference>() else {
        return Ok(pinned_material(text)?);
    };
    let store = super::open_store(&reference, Access::Read)?;
    let digest = store.resolve(&reference.target)?.digest;
    Ok(pinned_material(&format!("{text}@{digest}"))?)
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let flags = BuildContext {
        ci: None,
        builder_id: args.builder_id.clone(),
        invocation_id: args.invocation_id.clone(),
        source_repository: args.source_repository.clone(),
        source_ref: args.source_ref.clone(),
        source_commit: args.source_commit.clone(),
        workflow_path: args.workflow_path.clone(),
        started_on: args.started_on.clone(),
        finished_on: args
            .finished_on
            .clone()
            .or_else(|| Some(modelseal::clock::now_text())),
    };
    let context = flags.or(BuildContext::from_ci(&|name| std::env::var(name).ok()));
    let build_file = match (&args.modelfile, &args.kitfile) {
        (Some(path), _) => Some(build_file("Modelfile", path)?),
        (None, Some(path)) => Some(build_file("Kitfile", path)?),
        (None, None) => None,
    };
    let materials = args
        .materials
        .iter()
        .map(|m| material(m))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let input = ProvenanceInput {
        context,
        directory: args.directory.clone(),
        build_file,
        materials,
    };
    let pack = super::inspect::read(&args.reference)?;
    let provenance = predicate(&pack, &input)?;
    let value = serde_json::to_value(&provenance)?;
    // The key is read before anything is attached, so a bad key attaches nothing.
    let signing = args.signing.prepare_if(args.attest)?;
    super::output::print_json(&value)?;
    if let Some(signing) = signing {
        let store = super::open_store(&args.reference, Access::Read)?;
        let attached = sign_and_attach(
            &signing,
            store.as_ref(),
            &pack.descriptor,
            &args.reference,
            args.format,
            PROVENANCE_V1,
            value,
        )?;
        eprintln!(
            "Attested {} ({PROVENANCE_V1}, {} format): {}",
            args.reference.pinned(pack.descriptor.digest.clone()),
            attached.format,
            attached.manifest.digest
        );
    }
    Ok(())
}

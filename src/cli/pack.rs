//! `pack DIR REF`.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use glob::Pattern;
use indicatif::HumanBytes;
use modelseal::modelpack::Role;
use modelseal::modelpack::classify::Override;
use modelseal::modelpack::config::{
    ModelDescriptor, ModelProperties, check_param_size, check_precision,
};
use modelseal::modelpack::pack::{PackOptions, Packed, pack_files, plan};
use modelseal::oci::Access;

use super::output::progress_bar;
use modelseal::reference::Reference;
use serde_json::json;

use super::output::{OutputFormat as Format, print_json};

#[derive(clap::Args)]
pub struct Args {
    /// The model directory.
    dir: PathBuf,
    /// Where to store it, e.g. `oci:./models:v1` (a missing layout is created).
    reference: Reference,

    /// Model name (default: the directory's name).
    #[arg(long, help_heading = "Model metadata")]
    name: Option<String>,
    /// Model version.
    #[arg(long, help_heading = "Model metadata")]
    version: Option<String>,
    /// Model family, e.g. llama3.
    #[arg(long, help_heading = "Model metadata")]
    family: Option<String>,
    /// Weight format, e.g. safetensors, gguf, onnx, pt (default: from the weight files).
    #[arg(long, help_heading = "Model metadata")]
    format: Option<String>,
    /// Architecture, e.g. transformer.
    #[arg(long, help_heading = "Model metadata")]
    architecture: Option<String>,
    /// Precision, e.g. bfloat16 (comma-separated if mixed).
    #[arg(long, help_heading = "Model metadata")]
    precision: Option<String>,
    /// Parameter count, e.g. 7B or 6.7B.
    #[arg(long, help_heading = "Model metadata")]
    param_size: Option<String>,
    /// Quantization, e.g. awq or gptq.
    #[arg(long, help_heading = "Model metadata")]
    quantization: Option<String>,
    /// SPDX license expression (repeatable).
    #[arg(long = "license", help_heading = "Model metadata")]
    licenses: Vec<String>,
    /// Author (repeatable).
    #[arg(long = "author", help_heading = "Model metadata")]
    authors: Vec<String>,
    #[arg(long, help_heading = "Model metadata")]
    vendor: Option<String>,
    #[arg(long, help_heading = "Model metadata")]
    title: Option<String>,
    #[arg(long, help_heading = "Model metadata")]
    description: Option<String>,
    /// Where the model's source lives.
    #[arg(long, help_heading = "Model metadata")]
    source_url: Option<String>,
    /// Source revision, e.g. a commit.
    #[arg(long, help_heading = "Model metadata")]
    revision: Option<String>,
    /// Documentation URL.
    #[arg(long, help_heading = "Model metadata")]
    doc_url: Option<String>,

    /// Files matching PATTERN are weights (repeatable; overrides the default mapping).
    #[arg(long = "weight", value_name = "PATTERN", help_heading = "File roles")]
    weight: Vec<String>,
    /// Files matching PATTERN are weight configs, e.g. tokenizers.
    #[arg(
        long = "weight-config",
        value_name = "PATTERN",
        help_heading = "File roles"
    )]
    weight_config: Vec<String>,
    /// Files matching PATTERN are documentation.
    #[arg(long = "doc", value_name = "PATTERN", help_heading = "File roles")]
    doc: Vec<String>,
    /// Files matching PATTERN are code.
    #[arg(long = "code", value_name = "PATTERN", help_heading = "File roles")]
    code: Vec<String>,
    /// Files matching PATTERN are datasets.
    #[arg(long = "dataset", value_name = "PATTERN", help_heading = "File roles")]
    dataset: Vec<String>,
    /// Role of files nothing classifies (their layers are marked untested).
    #[arg(long, value_name = "ROLE", value_parser = parse_role, help_heading = "File roles")]
    unknown_as: Option<Role>,
    /// Leave out files matching PATTERN (repeatable).
    #[arg(long, value_name = "PATTERN", help_heading = "File roles")]
    exclude: Vec<String>,

    /// Pack files whose names start with a dot.
    #[arg(long)]
    include_hidden: bool,
    /// Pack what symbolic links point to even outside the directory.
    #[arg(long)]
    follow_symlinks: bool,
    /// Record the creation time and file times and modes; the digest then differs on every pack.
    #[arg(long)]
    timestamps: bool,
    /// Files hashed at once (default: one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    #[arg(long, value_enum, default_value_t)]
    output: Format,
}

fn parse_role(name: &str) -> Result<Role, String> {
    Role::from_name(name).ok_or_else(|| {
        let names: Vec<&str> = Role::MODELPACK.iter().map(|r| r.name()).collect();
        format!("unknown role {name:?}; choose one of {}", names.join(", "))
    })
}

fn non_empty(list: Vec<String>) -> Option<Vec<String>> {
    (!list.is_empty()).then_some(list)
}

fn options(args: &Args) -> anyhow::Result<PackOptions> {
    if let Some(size) = &args.param_size {
        check_param_size(size).map_err(anyhow::Error::msg)?;
    }
    if let Some(precision) = &args.precision {
        check_precision(precision).map_err(anyhow::Error::msg)?;
    }
    let default_name = args
        .dir
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().and_then(|n| n.to_str()).map(str::to_string));
    let descriptor = ModelDescriptor {
        name: args.name.clone().or(default_name),
        version: args.version.clone(),
        family: args.family.clone(),
        vendor: args.vendor.clone(),
        title: args.title.clone(),
        description: args.description.clone(),
        source_url: args.source_url.clone(),
        revision: args.revision.clone(),
        doc_url: args.doc_url.clone(),
        licenses: non_empty(args.licenses.clone()),
        authors: non_empty(args.authors.clone()),
        ..ModelDescriptor::default()
    };
    let properties = ModelProperties {
        architecture: args.architecture.clone(),
        format: args.format.clone(),
        param_size: args.param_size.clone(),
        precision: args.precision.clone(),
        quantization: args.quantization.clone(),
        capabilities: None,
    };
    let mut overrides = Vec::new();
    for (patterns, role) in [
        (&args.weight, Role::Weight),
        (&args.weight_config, Role::WeightConfig),
        (&args.doc, Role::Doc),
        (&args.code, Role::Code),
        (&args.dataset, Role::Dataset),
    ] {
        for pattern in patterns {
            overrides.push(Override::new(pattern, role).map_err(anyhow::Error::msg)?);
        }
    }
    let excludes = args
        .exclude
        .iter()
        .map(|p| Pattern::new(p).with_context(|| format!("invalid --exclude pattern {p:?}")))
        .collect::<anyhow::Result<_>>()?;
    Ok(PackOptions {
        descriptor,
        properties,
        overrides,
        unknown_as: args.unknown_as,
        excludes,
        include_hidden: args.include_hidden,
        follow_symlinks: args.follow_symlinks,
        timestamps: args.timestamps,
        threads: args.threads,
    })
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.reference.target.digest.is_some() {
        bail!("a pack is stored under a tag; give `oci:DIR:TAG`, not a digest");
    }
    let options = options(&args)?;
    let packed = pack_directory(&args.dir, &args.reference, &options)?;
    report(&args, &packed)
}

/// Plans first, so that a directory that cannot be packed leaves nothing behind, then packs.
pub fn pack_directory(
    dir: &Path,
    reference: &Reference,
    options: &PackOptions,
) -> anyhow::Result<Packed> {
    let files = plan(dir, options)?;
    let total: u64 = files.iter().fold(0, |sum, f| sum.saturating_add(f.size));
    let store = super::open_store(reference, Access::Write)?;
    let bar = progress_bar("packing", total);
    let advance = |n: u64| bar.inc(n);
    let tag = reference.target.tag_or_default();
    let packed = pack_files(files, store.as_ref(), tag, options, &advance);
    bar.finish_and_clear();
    Ok(packed?)
}

fn report(args: &Args, packed: &Packed) -> anyhow::Result<()> {
    let pinned = args.reference.pinned(packed.manifest.digest.clone());
    let total: u64 = packed
        .layers
        .iter()
        .fold(0, |sum, (_, d)| sum.saturating_add(d.size));
    match args.output {
        Format::Json => print_json(&json!({
            "reference": args.reference.to_string(),
            "digest": packed.manifest.digest,
            "mediaType": packed.manifest.media_type,
            "size": packed.manifest.size,
            "config": packed.config.digest,
            "layers": packed.layers.iter().map(|(file, d)| json!({
                "filepath": file.relative_path,
                "role": file.role,
                "mediaType": d.media_type,
                "digest": d.digest,
                "size": d.size,
                "untested": file.untested,
            })).collect::<Vec<_>>(),
        })),
        Format::Text => {
            eprintln!(
                "Packed {} files ({}) from {} into {}",
                packed.layers.len(),
                HumanBytes(total),
                args.dir.display(),
                args.reference
            );
            for (file, _) in packed.layers.iter().filter(|(f, _)| f.untested) {
                eprintln!(
                    "warning: {} has no known role; packed as {} and marked untested",
                    file.relative_path, file.role
                );
            }
            outln!("{pinned}");
            Ok(())
        }
    }
}

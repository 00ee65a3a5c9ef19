//! `inspect REF`.

use indicatif::HumanBytes;
use modelseal::modelpack::{self, ModelPack};
use modelseal::oci::Access;
use modelseal::reference::Reference;
use serde_json::{Value, json};

use super::output::{OutputFormat as Format, print_json};

#[derive(clap::Args)]
pub struct Args {
    /// The ModelPack, e.g. `oci:./models:v1`.
    reference: Reference,
    #[arg(long, value_enum, default_value_t)]
    output: Format,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let pack = read(&args.reference)?;
    match args.output {
        Format::Json => print_json(&to_json(&args.reference, &pack)?),
        Format::Text => {
            print(&args.reference, &pack);
            Ok(())
        }
    }
}

/// Resolves a reference once and reads and validates the ModelPack it names.
pub fn read(reference: &Reference) -> anyhow::Result<ModelPack> {
    let store = super::open_store(reference, Access::Read)?;
    let descriptor = store.resolve(&reference.target)?;
    Ok(modelpack::read(store.as_ref(), &descriptor)?)
}

/// The stable JSON shape documented in the README.
pub fn to_json(reference: &Reference, pack: &ModelPack) -> anyhow::Result<Value> {
    let manifest: Value = serde_json::from_slice(&pack.manifest_bytes)?;
    Ok(json!({
        "reference": reference.to_string(),
        "digest": pack.descriptor.digest,
        "mediaType": pack.descriptor.media_type,
        "size": pack.descriptor.size,
        "family": pack.family,
        "artifactType": pack.manifest.artifact_type,
        "config": {
            "mediaType": pack.manifest.config.media_type,
            "digest": pack.manifest.config.digest,
            "size": pack.manifest.config.size,
            "content": pack.config,
        },
        "layers": pack.layers.iter().map(|l| json!({
            "mediaType": l.descriptor.media_type,
            "digest": l.descriptor.digest,
            "size": l.descriptor.size,
            "role": l.layer_type.role,
            "packing": l.layer_type.packing,
            "filepath": l.filepath,
            "untested": l.untested,
            "metadata": l.metadata,
        })).collect::<Vec<_>>(),
        "totalLayerSize": pack.total_layer_size(),
        "manifest": manifest,
    }))
}

fn field<'a>(config: &'a Value, section: &str, key: &str) -> Option<&'a str> {
    config.get(section)?.get(key)?.as_str()
}

/// Text from the artifact, safe for a terminal: control characters (newlines, escape
/// sequences) are shown escaped instead of acting on the screen.
pub fn printable(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}

pub fn print(reference: &Reference, pack: &ModelPack) {
    outln!("Reference:  {reference}");
    outln!("Digest:     {}", pack.descriptor.digest);
    outln!("Kind:       {}", pack.family.describe());
    for (label, section, key) in [
        ("Name", "descriptor", "name"),
        ("Version", "descriptor", "version"),
        ("Family", "descriptor", "family"),
        ("Format", "config", "format"),
        ("Architecture", "config", "architecture"),
        ("Precision", "config", "precision"),
        ("Parameters", "config", "paramSize"),
        ("Created", "descriptor", "createdAt"),
    ] {
        if let Some(value) = field(&pack.config, section, key) {
            outln!("{:<11} {}", format!("{label}:"), printable(value));
        }
    }
    if let Some(licenses) = pack
        .config
        .get("descriptor")
        .and_then(|d| d.get("licenses"))
        .and_then(Value::as_array)
    {
        let names: Vec<&str> = licenses.iter().filter_map(Value::as_str).collect();
        outln!("Licenses:   {}", printable(&names.join(", ")));
    }
    outln!(
        "Config:     {} ({} bytes)",
        pack.manifest.config.digest,
        pack.manifest.config.size
    );
    outln!(
        "Layers:     {} ({})",
        pack.layers.len(),
        HumanBytes(pack.total_layer_size())
    );
    for layer in &pack.layers {
        let hex = layer.descriptor.digest.hex();
        let short = hex.get(..12).unwrap_or(hex);
        outln!(
            "  {:<14} {:<9} {:>10}  {}:{short}  {}{}",
            layer.layer_type.role.name(),
            format!("{:?}", layer.layer_type.packing).to_lowercase(),
            HumanBytes(layer.descriptor.size).to_string(),
            layer.descriptor.digest.algorithm().name(),
            printable(layer.filepath.as_deref().unwrap_or("-")),
            if layer.untested {
                "  (untested type)"
            } else {
                ""
            },
        );
    }
}

//! `tree`: what is attached to an artifact, like `cosign tree` and `oras discover`.

use modelseal::oci::{Access, open_store};
use modelseal::oci::{Descriptor, ImageManifest, Store, StoreError, limits};
use modelseal::reference::{Reference, Target};
use modelseal::signature::{bundle, legacy};
use serde_json::{Value, json};

use super::output::{OutputFormat, print_json};

/// How deep referrers of referrers are followed.
const MAX_DEPTH: usize = 8;

#[derive(clap::Args)]
pub struct Args {
    /// The artifact, e.g. `oci:./models:v1`.
    reference: Reference,
    #[arg(long, value_enum, default_value_t)]
    output: OutputFormat,
}

struct Node {
    label: String,
    json: Value,
    children: Vec<Node>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    print(&args.reference, args.output)
}

/// Resolves `reference` once and prints what is attached to that digest.
pub fn print(reference: &Reference, output: OutputFormat) -> anyhow::Result<()> {
    let store = open_store(reference, Access::Read)?;
    let subject = store.resolve(&reference.target)?;
    let referrers = referrer_nodes(store.as_ref(), &subject, 0)?;
    let tags = tag_nodes(store.as_ref(), &subject)?;
    let pinned = reference.pinned(subject.digest.clone());
    match output {
        OutputFormat::Json => print_json(&json!({
            "reference": reference.to_string(),
            "digest": subject.digest,
            "referrers": referrers.iter().map(|n| n.json.clone()).collect::<Vec<_>>(),
            "tags": tags.iter().map(|n| n.json.clone()).collect::<Vec<_>>(),
        })),
        OutputFormat::Text => {
            println!("{pinned}");
            let all: Vec<&Node> = referrers.iter().chain(&tags).collect();
            if all.is_empty() {
                println!("└── (no referrers and no signature, attestation or SBOM tags)");
            }
            print_children(&all, "");
            Ok(())
        }
    }
}

fn referrer_nodes(
    store: &dyn Store,
    subject: &Descriptor,
    depth: usize,
) -> anyhow::Result<Vec<Node>> {
    if depth >= MAX_DEPTH {
        return Ok(Vec::new());
    }
    let mut nodes = Vec::new();
    for referrer in store.referrers(&subject.digest, None)? {
        let children = referrer_nodes(store, &referrer, depth.saturating_add(1))?;
        let kind = referrer
            .artifact_type
            .clone()
            .unwrap_or_else(|| "(no artifact type)".into());
        let mut details = Vec::new();
        if let Some(p) = referrer.annotation(bundle::ANNOTATION_PREDICATE_TYPE) {
            details.push(p.to_string());
        }
        if let Some(c) = referrer.annotation(modelseal::oci::ANNOTATION_CREATED) {
            details.push(format!("created {c}"));
        }
        let suffix = if details.is_empty() {
            String::new()
        } else {
            format!(" ({})", details.join(", "))
        };
        nodes.push(Node {
            label: format!("{} {kind}{suffix}", referrer.digest),
            json: json!({
                "digest": referrer.digest,
                "mediaType": referrer.media_type,
                "artifactType": referrer.artifact_type,
                "annotations": referrer.annotations,
                "referrers": children.iter().map(|n| n.json.clone()).collect::<Vec<_>>(),
            }),
            children,
        });
    }
    Ok(nodes)
}

fn tag_nodes(store: &dyn Store, subject: &Descriptor) -> anyhow::Result<Vec<Node>> {
    let mut nodes = Vec::new();
    for tag in [
        legacy::signature_tag(&subject.digest),
        legacy::attestation_tag(&subject.digest),
        legacy::sbom_tag(&subject.digest),
    ] {
        let descriptor = match store.resolve(&Target::tag(&tag)) {
            Ok(d) => d,
            Err(StoreError::TagNotFound { .. }) => continue,
            Err(e) => return Err(e.into()),
        };
        let bytes = store.fetch_manifest(&descriptor)?;
        let layers = if descriptor.size <= limits::MAX_MANIFEST_BYTES {
            serde_json::from_slice::<ImageManifest>(&bytes)
                .map(|m| m.layers)
                .map_err(|e| anyhow::anyhow!("{tag} is not a valid manifest: {e}"))?
        } else {
            Vec::new()
        };
        let children = layers
            .iter()
            .map(|l| Node {
                label: format!("{} {}", l.digest, l.media_type),
                json: json!({"digest": l.digest, "mediaType": l.media_type, "size": l.size}),
                children: Vec::new(),
            })
            .collect::<Vec<_>>();
        nodes.push(Node {
            label: format!(
                "{tag} {} ({} {})",
                descriptor.digest,
                layers.len(),
                if layers.len() == 1 { "layer" } else { "layers" }
            ),
            json: json!({
                "tag": tag,
                "digest": descriptor.digest,
                "layers": children.iter().map(|n| n.json.clone()).collect::<Vec<_>>(),
            }),
            children,
        });
    }
    Ok(nodes)
}

fn print_children(nodes: &[&Node], prefix: &str) {
    for (i, node) in nodes.iter().enumerate() {
        let last = i.saturating_add(1) == nodes.len();
        let (branch, next) = if last {
            ("└── ", "    ")
        } else {
            ("├── ", "│   ")
        };
        println!("{prefix}{branch}{}", super::inspect::printable(&node.label));
        let children: Vec<&Node> = node.children.iter().collect();
        print_children(&children, &format!("{prefix}{next}"));
    }
}

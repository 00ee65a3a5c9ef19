//! `tree`: what is attached to an artifact, like `cosign tree` and `oras discover`.

use modelseal::oci::Access;
use std::collections::HashMap;

use modelseal::oci::{Descriptor, Digest, ImageManifest, Store, StoreError};
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
    let store = super::open_store(reference, Access::Read)?;
    let subject = store.resolve(&reference.target)?;
    let referrers = referrer_nodes(store.as_ref(), &subject)?;
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
            outln!("{pinned}");
            let all: Vec<&Node> = referrers.iter().chain(&tags).collect();
            if all.is_empty() {
                outln!("└── (no referrers and no signature, attestation or SBOM tags)");
            }
            print_children(&all, "");
            Ok(())
        }
    }
}

/// The most referrers shown; a hostile store could hold any number.
const MAX_NODES: usize = 10_000;

/// Referrers of referrers, level by level: one store query per level, however many nodes.
fn referrer_nodes(store: &dyn Store, subject: &Descriptor) -> anyhow::Result<Vec<Node>> {
    let mut children_of: HashMap<Digest, Vec<Descriptor>> = HashMap::new();
    let mut frontier = vec![subject.digest.clone()];
    let mut total = 0usize;
    for _ in 0..MAX_DEPTH {
        if frontier.is_empty() || total >= MAX_NODES {
            break;
        }
        let found = store.referrers_of_each(&frontier)?;
        let mut next = Vec::new();
        for (parent, mut referrers) in frontier.into_iter().zip(found) {
            referrers.truncate(MAX_NODES.saturating_sub(total));
            total = total.saturating_add(referrers.len());
            next.extend(referrers.iter().map(|d| d.digest.clone()));
            children_of.insert(parent, referrers);
        }
        frontier = next;
    }
    Ok(build(&subject.digest, &mut children_of))
}

/// Each manifest has one subject, so the referrers form a tree: every node is built once.
fn build(parent: &Digest, children_of: &mut HashMap<Digest, Vec<Descriptor>>) -> Vec<Node> {
    let referrers = children_of.remove(parent).unwrap_or_default();
    referrers
        .into_iter()
        .map(|referrer| {
            let children = build(&referrer.digest, children_of);
            referrer_node(referrer, children)
        })
        .collect()
}

fn referrer_node(referrer: Descriptor, children: Vec<Node>) -> Node {
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
    Node {
        label: format!("{} {kind}{suffix}", referrer.digest),
        json: json!({
            "digest": referrer.digest,
            "mediaType": referrer.media_type,
            "artifactType": referrer.artifact_type,
            "annotations": referrer.annotations,
            "referrers": children.iter().map(|n| n.json.clone()).collect::<Vec<_>>(),
        }),
        children,
    }
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
        // A damaged or oversized tag is shown as such rather than hiding the rest.
        let layers = match store
            .fetch_manifest(&descriptor)
            .map_err(|e| e.to_string())
            .and_then(|bytes| {
                serde_json::from_slice::<ImageManifest>(&bytes).map_err(|e| e.to_string())
            }) {
            Ok(manifest) => manifest.layers,
            Err(reason) => {
                nodes.push(Node {
                    label: format!("{tag} {} (cannot be read: {reason})", descriptor.digest),
                    json: json!({"tag": tag, "digest": descriptor.digest, "error": reason}),
                    children: Vec::new(),
                });
                continue;
            }
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
        outln!("{prefix}{branch}{}", super::inspect::printable(&node.label));
        let children: Vec<&Node> = node.children.iter().collect();
        print_children(&children, &format!("{prefix}{next}"));
    }
}

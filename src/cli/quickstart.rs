//! `quickstart`: the main job end to end on the embedded default, in a fresh folder.

use std::fs;
use std::path::PathBuf;

use anyhow::Context;
use modelseal::modelpack::pack::PackOptions;
use modelseal::reference::{Location, Reference, Target};

use super::inspect;

/// The sample model shipped in `testdata/tiny-model`, built into the binary so that
/// `quickstart` needs nothing but itself.
const SAMPLE_MODEL: &[(&str, &[u8])] = &[
    (
        "LICENSE",
        include_bytes!("../../testdata/tiny-model/LICENSE"),
    ),
    (
        "README.md",
        include_bytes!("../../testdata/tiny-model/README.md"),
    ),
    (
        "config.json",
        include_bytes!("../../testdata/tiny-model/config.json"),
    ),
    (
        "generation_config.json",
        include_bytes!("../../testdata/tiny-model/generation_config.json"),
    ),
    (
        "model.safetensors",
        include_bytes!("../../testdata/tiny-model/model.safetensors"),
    ),
    (
        "tokenizer.json",
        include_bytes!("../../testdata/tiny-model/tokenizer.json"),
    ),
];

#[derive(clap::Args)]
pub struct Args {
    /// Work in this folder (it must not exist yet) instead of a new temporary one.
    #[arg(long)]
    dir: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let root = match args.dir {
        Some(dir) => {
            fs::create_dir(&dir).with_context(|| {
                format!("cannot create {} (it must not exist yet)", dir.display())
            })?;
            dir
        }
        None => tempfile::Builder::new()
            .prefix("modelseal-quickstart-")
            .tempdir()?
            .keep(),
    };
    let model_dir = root.join("tiny-model");
    fs::create_dir(&model_dir)?;
    for (name, bytes) in SAMPLE_MODEL {
        fs::write(model_dir.join(name), bytes)?;
    }
    println!("1. Wrote the sample model to {}", model_dir.display());

    let reference = Reference {
        location: Location::Layout(root.join("layout")),
        target: Target::tag("v1"),
    };
    let options = PackOptions {
        descriptor: modelseal::modelpack::config::ModelDescriptor {
            name: Some("tiny-model".into()),
            version: Some("1.0.0".into()),
            licenses: Some(vec!["Apache-2.0".into()]),
            ..Default::default()
        },
        ..PackOptions::default()
    };
    let packed = super::pack::pack_directory(&model_dir, &reference, &options)?;
    println!(
        "2. Packed it into the OCI layout {} as {}",
        root.join("layout").display(),
        reference.pinned(packed.manifest.digest.clone())
    );
    println!("3. Read it back, validated it, and it says:\n");
    let pack = inspect::read(&reference)?;
    inspect::print(&reference, &pack);
    println!("\nTry it yourself: modelseal inspect {reference} --output json");
    Ok(())
}

//! `quickstart`: the main job end to end on the embedded default, in a fresh folder: pack,
//! generate a key, sign in both formats, verify, attest SLSA provenance and a scan and verify
//! them, show the tree, tamper and be rejected, then decide both by an admission policy.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;
use modelseal::attest::attach::{AttestRequest, attest};
use modelseal::attest::provenance::{self, BuildContext, ProvenanceInput};
use modelseal::attest::slsa::PROVENANCE_V1;
use modelseal::attest::verify::verify_attestations;
use modelseal::keys::{Algorithm, PrivateKey};
use modelseal::modelpack::ModelPack;
use modelseal::modelpack::pack::PackOptions;
use modelseal::oci::{Access, Digest, ManifestPush, TagCondition};
use modelseal::policy::PolicySet;
use modelseal::policy::evaluate::evaluate;
use modelseal::reference::{Location, Reference, Target};
use modelseal::scan::{SCAN_PREDICATE_TYPE, scan};
use modelseal::signature::{Format, legacy};

use modelseal::sigstore::SigstoreSigner;
use modelseal::sigstore::TrustRoot;
use modelseal::verify::{Authority, KeyAuthority};

use super::args::key_id;
use super::identity::SignerName;
use super::output::OutputFormat;
use super::{inspect, keys, pack, sign, tree};

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

fn layout_ref(root: &Path, name: &str) -> Reference {
    Reference {
        location: Location::Layout(root.join(name)),
        target: Target::tag("v1"),
    }
}

fn write_model(dir: &Path, tamper: bool) -> anyhow::Result<()> {
    fs::create_dir(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for (name, bytes) in SAMPLE_MODEL {
        let mut bytes = bytes.to_vec();
        if tamper && *name == "model.safetensors" {
            // Change the last weight: what an attacker swapping the weights would do.
            if let Some(last) = bytes.last_mut() {
                *last ^= 0x40;
            }
        }
        fs::write(dir.join(name), bytes)?;
    }
    Ok(())
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
    outln!("Working in {}\n", root.display());

    let model_dir = root.join("tiny-model");
    write_model(&model_dir, false)?;
    let reference = layout_ref(&root, "layout");
    let options = PackOptions {
        descriptor: modelseal::modelpack::config::ModelDescriptor {
            name: Some("tiny-model".into()),
            version: Some("1.0.0".into()),
            licenses: Some(vec!["Apache-2.0".into()]),
            ..Default::default()
        },
        ..PackOptions::default()
    };
    let packed = pack::pack_directory(&model_dir, &reference, &options)?;
    outln!(
        "1. Packed the sample model into {}",
        reference.pinned(packed.manifest.digest.clone())
    );
    let pack = inspect::read(&reference)?;
    outln!(
        "   {}, {} layers, read back and validated.\n",
        pack.family.describe(),
        pack.layers.len()
    );

    let private_path = root.join("quickstart.key");
    let public_path = root.join("quickstart.pub");
    // No prompt: the quickstart key has an empty password. Give your own keys a real one.
    let key = keys::write_key_pair(&private_path, &public_path, Algorithm::EcdsaP256, b"")?;
    let public = key.public_key();
    outln!(
        "2. Generated an ECDSA P-256 key pair in cosign's format: {} (empty password, quickstart only) and {}\n",
        private_path.display(),
        public_path.display()
    );

    let annotations = BTreeMap::new();
    for format in [Format::Bundle, Format::Legacy] {
        let (pinned, signed) = sign::sign_reference(
            &reference,
            &SigstoreSigner::with_key(&key),
            format,
            &annotations,
        )?;
        let place = match &signed.tag {
            Some(tag) => format!("a layer of tag {tag}"),
            None => format!("referrer {}", signed.manifest.digest),
        };
        outln!("3. Signed {pinned} ({format} format): {place}");
    }

    outln!("\n4. Verified with the public key:");
    let key_name = SignerName::Key(key_id(&public)?);
    let authority = key_authority(public)?;
    let (pinned, verification) = sign::verify_reference(&reference, &authority, &annotations)?;
    sign::print_report(&pinned, &key_name, &verification);
    sign::outcome(&pinned, &key_name, &verification)?;

    attest_provenance(&reference, &pack, &key, &key_name)?;
    attest_scan(&reference, &pack, &key)?;

    outln!("\n7. What is attached to it:");
    tree::print(&reference, OutputFormat::Text)?;

    outln!(
        "\n8. In a copy, an attacker changes one weight, re-packs the model under the same tag and\n   replays the original signatures onto the new digest:"
    );
    let tampered_model = root.join("tiny-model-tampered");
    write_model(&tampered_model, true)?;
    let tampered = layout_ref(&root, "layout-tampered");
    copy_dir(&root.join("layout"), &root.join("layout-tampered"))?;
    let repacked = pack::pack_directory(&tampered_model, &tampered, &options)?;
    replay_signatures(
        &tampered,
        &packed.manifest.digest,
        &repacked.manifest.digest,
    )?;
    let (pinned, verification) = sign::verify_reference(&tampered, &authority, &annotations)?;
    sign::print_report(&pinned, &key_name, &verification);
    match sign::outcome(&pinned, &key_name, &verification) {
        Ok(()) => anyhow::bail!("the tampered copy verified; this is a bug"),
        Err(reason) => outln!("   Rejected, as it must be: {reason}"),
    }

    let policy = write_policy(&root, &public_path)?;
    outln!(
        "\n9. The gatekeeper's decision by {} (signed by the key, provenance and a clean scan\n   attested, ModelPack hygiene):",
        policy.display()
    );
    admit_and_reject(&policy, &reference, &tampered)?;

    outln!(
        "\nTry it yourself:\n  modelseal verify --key {pub} {reference}\n  modelseal verify-attestation --key {pub} --type slsaprovenance1 {reference}\n  modelseal verify --policy {policy} {reference}\n  modelseal tree {reference}",
        pub = public_path.display(),
        policy = policy.display()
    );
    Ok(())
}

/// The quickstart's admission policy: signed by its key, provenance and a clean scan attested
/// by it, and ModelPack hygiene.
fn write_policy(root: &Path, public: &Path) -> anyhow::Result<PathBuf> {
    let rules = root.join("scan.rego");
    fs::write(
        &rules,
        "package modelseal\n\ndeny contains msg if {\n\tinput.predicate.result.verdict != \"clean\"\n\tmsg := sprintf(\"the scan is %v\", [input.predicate.result.verdict])\n}\n",
    )?;
    let policy = root.join("policy.yaml");
    fs::write(
        &policy,
        format!(
            "version: 1\npolicies:\n  - name: quickstart\n    scopes: [\"oci:{root}/**\"]\n    authorities:\n      - name: quickstart\n        key: {{path: {key}}}\n    signatures:\n      threshold: 1\n    attestations:\n      - type: slsaprovenance1\n      - type: scan\n        maxAge: 1d\n        rules: [scan.rego]\n    modelpack:\n      families: [cncf]\n      weightFormats: [safetensors, gguf]\n",
            root = root.display(),
            key = public.display()
        ),
    )?;
    Ok(policy)
}

/// Decides for the signed ModelPack (admitted) and the tampered copy (rejected).
fn admit_and_reject(policy: &Path, signed: &Reference, tampered: &Reference) -> anyhow::Result<()> {
    let set = PolicySet::load(policy)?;
    let at = modelseal::clock::now();
    for (reference, expected) in [(signed, true), (tampered, false)] {
        let store = super::open_store(reference, Access::Read)?;
        let decision = evaluate(&set, reference, store.as_ref(), at)?;
        let failed = decision.failed();
        outln!(
            "   {} {reference}{}",
            decision.decision,
            if failed.is_empty() {
                String::new()
            } else {
                format!(" ({} failed)", failed.join(", "))
            }
        );
        if decision.admitted() != expected {
            anyhow::bail!(
                "the policy decided {} for {reference}; this is a bug",
                decision.decision
            );
        }
    }
    Ok(())
}

/// Writes SLSA provenance for the quickstart's build, attests it in both formats and verifies
/// the attestations.
fn attest_provenance(
    reference: &Reference,
    pack: &ModelPack,
    key: &PrivateKey,
    key_name: &SignerName,
) -> anyhow::Result<()> {
    let input = ProvenanceInput {
        context: BuildContext {
            builder_id: Some("urn:modelseal:quickstart".into()),
            finished_on: Some(modelseal::clock::now_text()),
            ..BuildContext::default()
        },
        directory: Some("tiny-model".into()),
        ..ProvenanceInput::default()
    };
    let provenance = serde_json::to_value(provenance::predicate(pack, &input)?)?;
    let store = super::open_store(reference, Access::Read)?;
    outln!("\n5. Wrote SLSA provenance v1 for the build and attested it:");
    for format in [Format::Bundle, Format::Legacy] {
        let attached = attest(
            store.as_ref(),
            &pack.descriptor,
            AttestRequest {
                signer: &SigstoreSigner::with_key(key),
                format,
                predicate_type: PROVENANCE_V1,
                predicate: provenance.clone(),
                repository: &super::sign::repository_name(reference),
            },
        )?;
        outln!("   {format} format: {}", attached.manifest.digest);
    }
    let checked = verify_attestations(
        store.as_ref(),
        &pack.descriptor,
        &key_authority(key.public_key())?,
        PROVENANCE_V1,
    )?;
    let pinned = reference.pinned(pack.descriptor.digest.clone());
    outln!("   Verified the attestations with the public key:");
    super::attest::print_report(&pinned, key_name, PROVENANCE_V1, &checked);
    if !checked.iter().any(|c| c.outcome.is_ok()) {
        anyhow::bail!("the provenance attestations did not verify; this is a bug");
    }
    Ok(())
}

/// Scans the quickstart's ModelPack, attests the result and verifies the attestation.
fn attest_scan(reference: &Reference, pack: &ModelPack, key: &PrivateKey) -> anyhow::Result<()> {
    let store = super::open_store(reference, Access::Read)?;
    let started = modelseal::clock::now_text();
    let result = scan(store.as_ref(), pack)?;
    let finished = modelseal::clock::now_text();
    let verdict = result.verdict();
    let attached = attest(
        store.as_ref(),
        &pack.descriptor,
        AttestRequest {
            signer: &SigstoreSigner::with_key(key),
            format: Format::Bundle,
            predicate_type: SCAN_PREDICATE_TYPE,
            predicate: result.predicate(&started, &finished),
            repository: &super::sign::repository_name(reference),
        },
    )?;
    outln!(
        "\n6. Scanned its {} layers: {verdict} ({} notes on files that are not model formats); attested the result: {}",
        result.layers.len(),
        result.findings().count(),
        attached.manifest.digest
    );
    if verdict != "clean" {
        anyhow::bail!("the sample model's scan is {verdict}; this is a bug");
    }
    let checked = verify_attestations(
        store.as_ref(),
        &pack.descriptor,
        &key_authority(key.public_key())?,
        SCAN_PREDICATE_TYPE,
    )?;
    let verified = checked.iter().filter(|c| c.outcome.is_ok()).count();
    outln!(
        "   {verified} of {} scan attestations verified",
        checked.len()
    );
    if verified == 0 {
        anyhow::bail!("the scan attestation did not verify; this is a bug");
    }
    Ok(())
}

/// What an attacker with write access to the store can do: copy the `.sig` manifest of the
/// signed digest, byte for byte, to the signature tag of another digest.
fn replay_signatures(
    reference: &Reference,
    signed: &Digest,
    forged: &Digest,
) -> anyhow::Result<()> {
    let store = super::open_store(reference, Access::Read)?;
    let original = store.resolve(&Target::tag(&legacy::signature_tag(signed)))?;
    let bytes = store.fetch_manifest(&original)?;
    store.push_manifest(ManifestPush {
        bytes: &bytes,
        media_type: &original.media_type,
        artifact_type: None,
        tag: Some(&legacy::signature_tag(forged)),
        condition: TagCondition::Always,
    })?;
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// The quickstart key as an authority: its signatures carry no log entry (nothing leaves the
/// machine), and one that did would be checked against the production root.
fn key_authority(key: modelseal::keys::PublicKey) -> anyhow::Result<Authority> {
    let authority = KeyAuthority::new(key, &TrustRoot::Production).map_err(anyhow::Error::msg)?;
    Ok(Authority::Key(Box::new(authority)))
}

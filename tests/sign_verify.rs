//! `sign`, `verify` and `tree` through the real binary on the layout store, and every bad
//! input the verifier must refuse.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;
use std::process::Command;

use common::*;
use modelseal::attest::statement::Statement;
use modelseal::keys::{Algorithm, PrivateKey, load_private_key};
use modelseal::oci::{
    Descriptor, Digest, ImageManifest, LayoutStore, MEDIA_TYPE_IMAGE_MANIFEST, ManifestPush, Store,
    TagCondition,
};
use modelseal::reference::Target;
use modelseal::signature::{SIGN_PREDICATE_TYPE, bundle, legacy, simple_signing};
use modelseal::sigstore::SigstoreSigner;
use serde_json::Value;

/// A packed sample model with a key pair.
struct Lab {
    ws: Workspace,
    digest: String,
}

impl Lab {
    fn new() -> Lab {
        Lab::with_key(Algorithm::EcdsaP256)
    }

    fn with_key(algorithm: Algorithm) -> Lab {
        let ws = Workspace::new();
        let digest = ws.pack("v1");
        let lab = Lab { ws, digest };
        lab.key_pair("signer", algorithm);
        lab
    }

    fn key_pair(&self, name: &str, algorithm: Algorithm) {
        let algorithm = match algorithm {
            Algorithm::EcdsaP256 => "ecdsa-p256",
            Algorithm::Ed25519 => "ed25519",
        };
        let out = generate_key_pair(&self.ws.path(name), algorithm, "pw");
        assert!(out.status.success(), "{}", stderr(&out));
    }

    fn key(&self, name: &str) -> PathBuf {
        self.ws.path(&format!("{name}.key"))
    }

    fn public(&self, name: &str) -> PathBuf {
        self.ws.path(&format!("{name}.pub"))
    }

    fn private(&self, name: &str) -> PrivateKey {
        let bytes = fs::read(self.key(name)).unwrap();
        load_private_key(&bytes, || Ok("pw".to_string().into())).unwrap()
    }

    fn reference(&self) -> String {
        self.ws.layout_ref("v1")
    }

    fn store(&self) -> LayoutStore {
        LayoutStore::open(&self.ws.layout()).unwrap()
    }

    fn subject(&self) -> Descriptor {
        self.store().resolve(&Target::tag("v1")).unwrap()
    }

    fn sign(&self, key: &str, extra: &[&str]) -> std::process::Output {
        modelseal()
            .args(["sign", "--key"])
            .arg(self.key(key))
            .args(extra)
            .arg(self.reference())
            .env("COSIGN_PASSWORD", "pw")
            .output()
            .unwrap()
    }

    fn signed(&self, key: &str, extra: &[&str]) -> String {
        let out = self.sign(key, extra);
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out).trim().to_string()
    }

    fn verify(&self, key: &str, extra: &[&str]) -> std::process::Output {
        self.verify_ref(key, &self.reference(), extra)
    }

    fn verify_ref(&self, key: &str, reference: &str, extra: &[&str]) -> std::process::Output {
        modelseal()
            .args(["verify", "--key"])
            .arg(self.public(key))
            .args(extra)
            .arg(reference)
            .output()
            .unwrap()
    }

    fn verify_json(&self, key: &str) -> (Option<i32>, Value) {
        let out = self.verify(key, &["--output", "json"]);
        (
            out.status.code(),
            serde_json::from_slice(&out.stdout).unwrap(),
        )
    }

    fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.ws.layout().join("blobs/sha256").join(digest.hex())
    }

    /// Pushes a referrer of the subject holding `bundle_bytes`.
    fn push_bundle_referrer(&self, subject: &Descriptor, bundle_bytes: &[u8]) -> Descriptor {
        let store = self.store();
        let mut empty: &[u8] = bundle::EMPTY_CONFIG;
        store.push_blob(&mut empty, None).unwrap();
        let (digest, size) = store.push_blob(&mut &bundle_bytes[..], None).unwrap();
        let layer = Descriptor::new(bundle::MEDIA_TYPE, digest, size);
        let manifest =
            bundle::referrer_manifest(subject, layer, SIGN_PREDICATE_TYPE, "2026-01-01T00:00:00Z");
        push_manifest(&store, &manifest, None)
    }

    /// Replaces the `.sig` tag of the subject with these layers (their blobs must exist).
    fn push_sig_manifest(&self, layers: Vec<Descriptor>) -> Descriptor {
        let store = self.store();
        let config = legacy::config_blob(&layers);
        let (digest, size) = store.push_blob(&mut config.as_slice(), None).unwrap();
        let manifest = legacy::manifest(
            layers,
            Descriptor::new(legacy::CONFIG_MEDIA_TYPE, digest, size),
        );
        let tag = legacy::signature_tag(&self.subject().digest);
        push_manifest(&store, &manifest, Some(&tag))
    }
}

fn push_manifest(store: &LayoutStore, manifest: &ImageManifest, tag: Option<&str>) -> Descriptor {
    let bytes = serde_json::to_vec(manifest).unwrap();
    store
        .push_manifest(ManifestPush {
            bytes: &bytes,
            media_type: MEDIA_TYPE_IMAGE_MANIFEST,
            artifact_type: manifest.artifact_type.as_deref(),
            tag,
            condition: TagCondition::Always,
        })
        .unwrap()
}

#[test]
fn signs_and_verifies_in_both_formats_with_both_algorithms() {
    for algorithm in [Algorithm::EcdsaP256, Algorithm::Ed25519] {
        let lab = Lab::with_key(algorithm);
        lab.signed("signer", &[]);
        lab.signed("signer", &["--format", "legacy"]);
        let out = lab.verify("signer", &[]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(
            stdout(&out).contains("2 of 2 signatures verified"),
            "{}",
            stdout(&out)
        );
        let (code, json) = lab.verify_json("signer");
        assert_eq!(code, Some(0));
        assert_eq!(json["verified"], true);
        assert_eq!(json["digest"], lab.digest);
        let formats: Vec<&str> = json["signatures"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["format"].as_str().unwrap())
            .collect();
        assert_eq!(formats, ["bundle", "legacy"]);
    }
}

#[test]
fn the_bundle_referrer_has_cosigns_layout() {
    let lab = Lab::new();
    let referrer: Digest = lab.signed("signer", &[]).parse().unwrap();
    let manifest: Value =
        serde_json::from_slice(&fs::read(lab.blob_path(&referrer)).unwrap()).unwrap();
    assert_eq!(manifest["artifactType"], bundle::MEDIA_TYPE);
    assert_eq!(
        manifest["config"]["digest"],
        "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
    );
    assert_eq!(manifest["subject"]["digest"], lab.digest);
    assert_eq!(manifest["subject"]["mediaType"], MEDIA_TYPE_IMAGE_MANIFEST);
    assert_eq!(
        manifest["annotations"]["dev.sigstore.bundle.content"],
        "dsse-envelope"
    );
    assert_eq!(
        manifest["annotations"]["dev.sigstore.bundle.predicateType"],
        SIGN_PREDICATE_TYPE
    );
    assert!(manifest["annotations"]["org.opencontainers.image.created"].is_string());
    let layer_digest: Digest = manifest["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let bundle_json: Value =
        serde_json::from_slice(&fs::read(lab.blob_path(&layer_digest)).unwrap()).unwrap();
    assert_eq!(bundle_json["mediaType"], bundle::MEDIA_TYPE);
    let hint = bundle_json["verificationMaterial"]["publicKey"]["hint"]
        .as_str()
        .unwrap();
    assert_eq!(
        hint,
        bundle::key_hint(&lab.private("signer").public_key()).unwrap()
    );
    assert_eq!(
        bundle_json["dsseEnvelope"]["payloadType"],
        "application/vnd.in-toto+json"
    );
    // The referrer is listed untagged in the layout's index.
    let index: Value =
        serde_json::from_slice(&fs::read(lab.ws.layout().join("index.json")).unwrap()).unwrap();
    let entry = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["digest"] == referrer.to_string())
        .unwrap();
    assert!(entry.get("annotations").is_none());
}

#[test]
fn annotations_are_signed_and_required() {
    let lab = Lab::new();
    lab.signed("signer", &["-a", "team=ml", "-a", "stage=prod"]);
    lab.signed("signer", &["--format", "legacy", "-a", "team=ml"]);
    let both = lab.verify("signer", &["-a", "team=ml"]);
    assert!(
        stdout(&both).contains("2 of 2 signatures verified"),
        "{}",
        stdout(&both)
    );
    let one = lab.verify("signer", &["-a", "stage=prod"]);
    assert!(one.status.success());
    assert!(
        stdout(&one).contains("1 of 2 signatures verified"),
        "{}",
        stdout(&one)
    );
    let none = lab.verify("signer", &["-a", "team=web"]);
    assert_fails(&none, 1, "verifies with key");
    assert!(stdout(&none).contains("lacks a required annotation"));
    assert!(stdout(&none).contains("annotation team=web is not in the signed payload"));
    let bad = lab.verify("signer", &["-a", "novalue"]);
    assert_fails(&bad, 2, "is not key=value");
}

#[test]
fn legacy_signatures_accumulate_and_are_not_duplicated() {
    let lab = Lab::new();
    lab.key_pair("second", Algorithm::Ed25519);
    lab.signed("signer", &["--format", "legacy"]);
    lab.signed("second", &["--format", "legacy"]);
    let again = lab.sign("signer", &["--format", "legacy"]);
    assert!(stderr(&again).contains("already carries this signature"));
    let tag = legacy::signature_tag(&lab.subject().digest);
    let sig = lab.store().resolve(&Target::tag(&tag)).unwrap();
    let manifest: ImageManifest =
        serde_json::from_slice(&lab.store().fetch_manifest(&sig).unwrap()).unwrap();
    assert_eq!(manifest.layers.len(), 2);
    assert!(lab.verify("signer", &[]).status.success());
    assert!(lab.verify("second", &[]).status.success());
    // The config is the one go-containerregistry derives for these layers.
    let config = fs::read(lab.blob_path(&manifest.config.digest)).unwrap();
    assert_eq!(config, legacy::config_blob(&manifest.layers));
}

#[test]
fn concurrent_legacy_signers_keep_every_signature() {
    let lab = Lab::new();
    let names = ["k0", "k1", "k2", "k3"];
    for name in names {
        lab.key_pair(name, Algorithm::Ed25519);
    }
    run_together(
        names
            .iter()
            .map(|name| {
                vec![
                    "sign".into(),
                    "--format".into(),
                    "legacy".into(),
                    "--key".into(),
                    lab.key(name).into(),
                    lab.reference().into(),
                ]
            })
            .collect(),
    );
    for name in names {
        assert!(
            lab.verify(name, &[]).status.success(),
            "{name} lost its signature"
        );
    }
}

#[test]
fn an_unsigned_artifact_and_a_wrong_key_are_rejected() {
    let lab = Lab::new();
    assert_fails(&lab.verify("signer", &[]), 1, "has no signatures");
    lab.signed("signer", &[]);
    lab.signed("signer", &["--format", "legacy"]);
    lab.key_pair("stranger", Algorithm::EcdsaP256);
    let out = lab.verify("stranger", &[]);
    assert_fails(&out, 1, "verifies with key");
    assert_eq!(
        stdout(&out)
            .matches("the signature does not verify with this key")
            .count(),
        2
    );
    // An Ed25519 signature presented for a P-256 key.
    let ed = Lab::with_key(Algorithm::Ed25519);
    ed.signed("signer", &[]);
    ed.signed("signer", &["--format", "legacy"]);
    fs::copy(lab.public("signer"), ed.ws.path("p256.pub")).unwrap();
    let out = ed.verify("p256", &[]);
    assert_fails(&out, 1, "verifies with key");
    assert_eq!(
        stdout(&out)
            .matches("does not verify with this key")
            .count(),
        2
    );
}

#[test]
fn a_signature_replayed_from_another_digest_is_rejected() {
    let lab = Lab::new();
    // Sign a different artifact with the same key, then attach its signatures to ours.
    let other = lab.ws.path("other-model");
    copy_dir(&lab.ws.model(), &other);
    fs::write(other.join("extra.md"), b"another model").unwrap();
    let out = lab.ws.pack_dir(&other, &lab.ws.layout_ref("other"), &[]);
    assert!(out.status.success());
    let other_ref = lab.ws.layout_ref("other");
    for format in ["bundle", "legacy"] {
        let out = modelseal()
            .args(["sign", "--format", format, "--key"])
            .arg(lab.key("signer"))
            .arg(&other_ref)
            .env("COSIGN_PASSWORD", "pw")
            .output()
            .unwrap();
        assert!(out.status.success());
    }
    let store = lab.store();
    let other_subject = store.resolve(&Target::tag("other")).unwrap();
    // The other artifact's bundle, in a referrer whose subject is ours.
    let referrer = store
        .referrers(&other_subject.digest, None)
        .unwrap()
        .remove(0);
    let manifest: ImageManifest =
        serde_json::from_slice(&store.fetch_manifest(&referrer).unwrap()).unwrap();
    let bundle_bytes = fs::read(lab.blob_path(&manifest.layers[0].digest)).unwrap();
    lab.push_bundle_referrer(&lab.subject(), &bundle_bytes);
    // The other artifact's .sig layer under our .sig tag.
    let other_sig = store
        .resolve(&Target::tag(&legacy::signature_tag(&other_subject.digest)))
        .unwrap();
    let other_manifest: ImageManifest =
        serde_json::from_slice(&store.fetch_manifest(&other_sig).unwrap()).unwrap();
    lab.push_sig_manifest(other_manifest.layers);
    let out = lab.verify("signer", &[]);
    assert_fails(&out, 1, "verifies with key");
    let report = stdout(&out);
    assert_eq!(
        report
            .matches(&format!(
                "it signs {}, not {}",
                other_subject.digest, lab.digest
            ))
            .count(),
        2,
        "{report}"
    );
}

#[test]
fn flipped_bytes_anywhere_are_rejected() {
    let lab = Lab::new();
    let referrer: Digest = lab.signed("signer", &[]).parse().unwrap();
    lab.signed("signer", &["--format", "legacy"]);
    let store = lab.store();
    let manifest: ImageManifest = serde_json::from_slice(
        &store
            .fetch_manifest(&store.referrers(&lab.subject().digest, None).unwrap()[0])
            .unwrap(),
    )
    .unwrap();
    let bundle_path = lab.blob_path(&manifest.layers[0].digest);
    let sig = store
        .resolve(&Target::tag(&legacy::signature_tag(&lab.subject().digest)))
        .unwrap();
    let sig_manifest: ImageManifest =
        serde_json::from_slice(&store.fetch_manifest(&sig).unwrap()).unwrap();
    let payload_path = lab.blob_path(&sig_manifest.layers[0].digest);

    let flip = |path: &PathBuf, at: usize| {
        let original = fs::read(path).unwrap();
        let mut bytes = original.clone();
        bytes[at] ^= 0x01;
        fs::write(path, bytes).unwrap();
        original
    };
    // The bundle blob.
    let original = flip(&bundle_path, 100);
    let out = lab.verify("signer", &[]);
    assert!(
        stdout(&out).contains("does not match its digest"),
        "{}",
        stdout(&out)
    );
    fs::write(&bundle_path, original).unwrap();
    // The referrer manifest.
    let original = flip(&lab.blob_path(&referrer), 30);
    let out = lab.verify("signer", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    fs::write(lab.blob_path(&referrer), original).unwrap();
    // The legacy payload.
    let original = flip(&payload_path, 60);
    let out = lab.verify("signer", &["--output", "json"]);
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["signatures"][1]["verified"], false);
    assert!(
        json["signatures"][1]["reason"]
            .as_str()
            .unwrap()
            .contains("does not match its digest")
    );
    fs::write(&payload_path, original).unwrap();
    // The legacy signature annotation: re-encode a signature with one bit flipped.
    let mut layer = sig_manifest.layers[0].clone();
    let mut signature = legacy::layer_signature(&layer).unwrap();
    let last = signature.len() - 1;
    signature[last] ^= 0x01;
    layer = legacy::signature_layer(&fs::read(&payload_path).unwrap(), &signature);
    lab.push_sig_manifest(vec![layer]);
    let out = lab.verify("signer", &["--output", "json"]);
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        json["signatures"][0]["verified"], true,
        "the bundle is intact again"
    );
    // Signed offline: no log time is claimed.
    assert_eq!(json["signatures"][0]["logged"], Value::Null);
    assert_eq!(
        json["signatures"][1]["reason"],
        "the signature does not verify with this key"
    );
}

#[test]
fn an_attestation_is_not_a_signature() {
    let lab = Lab::new();
    let key = lab.private("signer");
    let subject = lab.subject();
    let statement = Statement::about(
        &subject.digest,
        "https://slsa.dev/provenance/v1",
        serde_json::json!({"buildDefinition": {"buildType": "https://example.org/build"}}),
        &BTreeMap::new(),
    );
    lab.push_bundle_referrer(
        &subject,
        &bundle::build(&SigstoreSigner::with_key(&key), &statement).unwrap(),
    );
    let out = lab.verify("signer", &[]);
    assert_fails(&out, 1, "verifies with key");
    assert!(
        stdout(&out)
            .contains("it is an attestation (https://slsa.dev/provenance/v1), not a signature"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_bundle_with_two_dsse_signatures_is_rejected() {
    let lab = Lab::new();
    let referrer: Digest = lab.signed("signer", &[]).parse().unwrap();
    let manifest: ImageManifest =
        serde_json::from_slice(&fs::read(lab.blob_path(&referrer)).unwrap()).unwrap();
    let mut bundle_json: Value =
        serde_json::from_slice(&fs::read(lab.blob_path(&manifest.layers[0].digest)).unwrap())
            .unwrap();
    let first = bundle_json["dsseEnvelope"]["signatures"][0].clone();
    bundle_json["dsseEnvelope"]["signatures"] = serde_json::json!([first.clone(), first]);
    let store = lab.store();
    // Replace the original referrer: only the doubled one remains.
    fs::remove_file(lab.blob_path(&referrer)).unwrap();
    let index_path = lab.ws.layout().join("index.json");
    let mut index: Value = serde_json::from_slice(&fs::read(&index_path).unwrap()).unwrap();
    index["manifests"]
        .as_array_mut()
        .unwrap()
        .retain(|m| m["digest"] != referrer.to_string());
    fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
    drop(store);
    lab.push_bundle_referrer(&lab.subject(), &serde_json::to_vec(&bundle_json).unwrap());
    let out = lab.verify("signer", &[]);
    assert_fails(&out, 1, "verifies with key");
    assert!(
        stdout(&out).contains("exactly one signature"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn oversized_sig_manifests_and_layers_are_refused_before_reading() {
    let lab = Lab::new();
    lab.signed("signer", &["--format", "legacy"]);
    let store = lab.store();
    let sig = store
        .resolve(&Target::tag(&legacy::signature_tag(&lab.subject().digest)))
        .unwrap();
    let manifest: ImageManifest =
        serde_json::from_slice(&store.fetch_manifest(&sig).unwrap()).unwrap();
    let good = manifest.layers[0].clone();
    lab.push_sig_manifest(vec![good.clone(); 1001]);
    let out = lab.verify("signer", &[]);
    assert_fails(&out, 1, "verifies with key");
    assert!(
        stdout(&out).contains("the .sig manifest has 1001 layers, over the limit of 1000"),
        "{}",
        stdout(&out)
    );
    // A 200 MiB layer.
    let huge = vec![b' '; 200 << 20];
    let (digest, size) = store.push_blob(&mut huge.as_slice(), None).unwrap();
    let mut layer = good.clone();
    layer.digest = digest;
    layer.size = size;
    lab.push_sig_manifest(vec![layer, good]);
    let out = lab.verify("signer", &["--output", "json"]);
    assert_eq!(out.status.code(), Some(0), "the good layer still verifies");
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let reason = json["signatures"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("over the limit of 4194304 bytes"),
        "{reason}"
    );
}

#[test]
fn payloads_that_parsers_could_read_differently_are_rejected() {
    let lab = Lab::new();
    let key = lab.private("signer");
    let subject = lab.subject();
    let other = Digest::sha256_of(b"other");
    let honest =
        String::from_utf8(simple_signing::payload("r", &subject.digest, &BTreeMap::new()).unwrap())
            .unwrap();
    // The digest twice: one parser takes the first, another the last.
    let duplicated = honest.replacen(
        r#""image":{"#,
        &format!(r#""image":{{"docker-manifest-digest":"{other}","#),
        1,
    );
    // Go's encoding/json would take a second, differently cased key.
    let cased = honest.replacen(
        r#""type":"#,
        &format!(r#""Image":{{"docker-manifest-digest":"{other}"}},"type":"#),
        1,
    );
    let mut invalid_utf8 = honest.clone().into_bytes();
    invalid_utf8.splice(20..20, [0xff, 0xfe]);
    let mut layers = Vec::new();
    for payload in [duplicated.into_bytes(), cased.into_bytes(), invalid_utf8] {
        let signature = key.sign(&payload);
        lab.store()
            .push_blob(&mut payload.as_slice(), None)
            .unwrap();
        layers.push(legacy::signature_layer(&payload, &signature));
    }
    lab.push_sig_manifest(layers);
    // The same trick inside a bundle's statement.
    let statement = serde_json::to_string(&Statement::about(
        &subject.digest,
        SIGN_PREDICATE_TYPE,
        serde_json::json!({}),
        &BTreeMap::new(),
    ))
    .unwrap();
    let twice = statement.replacen(
        r#""digest":{"#,
        &format!(r#""digest":{{"sha256":"{}","#, other.hex()),
        1,
    );
    let envelope =
        modelseal::attest::dsse::sign(&key, "application/vnd.in-toto+json", twice.into_bytes());
    let bundle_bytes = sigstore_bundle::BundleV03::new(
        sigstore_bundle::VerificationMaterialV03::PublicKey { hint: "x".into() },
        sigstore_types::SignatureContent::DsseEnvelope(envelope),
    )
    .into_bundle()
    .to_json()
    .unwrap();
    lab.push_bundle_referrer(&subject, bundle_bytes.as_bytes());
    let out = lab.verify("signer", &[]);
    assert_fails(&out, 1, "verifies with key");
    let report = stdout(&out);
    assert_eq!(report.matches("duplicate key").count(), 3, "{report}");
    assert!(report.contains("ignoring case"), "{report}");
    assert!(
        report.contains("invalid unicode") || report.contains("UTF-8") || report.contains("utf-8"),
        "{report}"
    );
}

#[test]
fn the_digest_resolved_first_is_the_one_verified() {
    let lab = Lab::new();
    lab.signed("signer", &[]);
    let store = lab.store();
    let subject = store.resolve(&Target::tag("v1")).unwrap();
    // The tag moves to another manifest after it was resolved.
    let other = lab.ws.path("other-model");
    copy_dir(&lab.ws.model(), &other);
    fs::write(other.join("extra.md"), b"x").unwrap();
    assert!(
        lab.ws
            .pack_dir(&other, &lab.reference(), &[])
            .status
            .success()
    );
    assert_ne!(
        store.resolve(&Target::tag("v1")).unwrap().digest,
        subject.digest
    );
    let key =
        modelseal::keys::PublicKey::from_pem(&fs::read(lab.public("signer")).unwrap()).unwrap();
    let verification = modelseal::verify::verify_signatures(
        &store,
        &subject,
        &modelseal::verify::Expectations {
            authority: &modelseal::verify::Authority::Key(Box::new(
                modelseal::verify::KeyAuthority::new(
                    key,
                    &modelseal::sigstore::TrustRoot::Production,
                )
                .unwrap(),
            )),
            annotations: &BTreeMap::new(),
        },
    )
    .unwrap();
    assert!(verification.is_verified());
    assert_eq!(verification.subject.digest, subject.digest);
    // Through the command line, the moved tag names an unsigned artifact.
    assert_fails(&lab.verify("signer", &[]), 1, "has no signatures");
}

#[test]
fn a_store_that_cannot_be_read_is_an_error_not_unsigned() {
    let lab = Lab::new();
    let referrer: Digest = lab.signed("signer", &[]).parse().unwrap();
    let manifest: ImageManifest =
        serde_json::from_slice(&fs::read(lab.blob_path(&referrer)).unwrap()).unwrap();
    let path = lab.blob_path(&manifest.layers[0].digest);
    fs::remove_file(&path).unwrap();
    fs::create_dir(&path).unwrap();
    let out = lab.verify("signer", &[]);
    assert_fails(&out, 2, "Is a directory");
}

#[test]
fn verify_needs_a_public_key() {
    let lab = Lab::new();
    let out = modelseal()
        .args(["verify", "--key"])
        .arg(lab.key("signer"))
        .arg(lab.reference())
        .output()
        .unwrap();
    assert_fails(&out, 2, "cannot load the public key");
}

#[test]
fn tree_shows_referrers_and_signature_tags() {
    let lab = Lab::new();
    let referrer = lab.signed("signer", &[]);
    lab.signed("signer", &["--format", "legacy"]);
    let out = modelseal()
        .args(["tree", &lab.reference()])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(text.contains(&referrer));
    assert!(text.contains(".sig"));
    assert!(text.contains("application/vnd.dev.cosign.simplesigning.v1+json"));
    let out = modelseal()
        .args(["tree", &lab.reference(), "--output", "json"])
        .output()
        .unwrap();
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["referrers"][0]["digest"], referrer);
    assert_eq!(json["referrers"][0]["artifactType"], bundle::MEDIA_TYPE);
    assert_eq!(json["tags"][0]["layers"].as_array().unwrap().len(), 1);
    let empty = Lab::new();
    let out = modelseal()
        .args(["tree", &empty.reference()])
        .output()
        .unwrap();
    assert!(stdout(&out).contains("no referrers"));
}

#[test]
fn a_repeated_annotation_key_is_an_error_not_a_dropped_requirement() {
    let lab = Lab::new();
    lab.signed("signer", &["-a", "team=web"]);
    let out = lab.verify("signer", &["-a", "team=ml", "-a", "team=web"]);
    assert_fails(&out, 2, "given more than once");
    let out = lab.sign("signer", &["-a", "team=ml", "-a", "team=web"]);
    assert_fails(&out, 2, "given more than once");
}

#[test]
fn a_legacy_signature_that_would_make_the_sig_manifest_unreadable_is_refused() {
    let lab = Lab::new();
    lab.signed("signer", &["--format", "legacy"]);
    let store = lab.store();
    let tag = legacy::signature_tag(&lab.subject().digest);
    let sig = store.resolve(&Target::tag(&tag)).unwrap();
    let manifest: ImageManifest =
        serde_json::from_slice(&store.fetch_manifest(&sig).unwrap()).unwrap();
    // Keyless cosign layers carry kilobytes of certificates in annotations: fill the manifest
    // to 64 bytes under the 4 MiB read limit.
    let certificate = "dev.sigstore.cosign/certificate";
    let mut layer = manifest.layers[0].clone();
    layer
        .annotations
        .as_mut()
        .unwrap()
        .insert(certificate.into(), "C".repeat(8 << 10));
    let mut layers = vec![layer; 490];
    let size_of = |layers: &Vec<Descriptor>| {
        let config = legacy::config_blob(layers);
        let config = Descriptor::new(
            legacy::CONFIG_MEDIA_TYPE,
            Digest::sha256_of(&config),
            config.len() as u64,
        );
        serde_json::to_vec(&legacy::manifest(layers.clone(), config))
            .unwrap()
            .len()
    };
    let short = (4 << 20) - 64 - size_of(&layers);
    let last = layers.last_mut().unwrap().annotations.as_mut().unwrap();
    last.insert(certificate.into(), "C".repeat((8 << 10) + short));
    let full = lab.push_sig_manifest(layers);
    assert_eq!(full.size, (4 << 20) - 64);
    let out = lab.sign("signer", &["--format", "legacy", "-a", "n=1"]);
    assert_fails(&out, 2, "over the limit readers accept");
    assert_eq!(
        store.resolve(&Target::tag(&tag)).unwrap().digest,
        full.digest,
        "the tag did not move"
    );
    // The bundle format still works.
    lab.signed("signer", &[]);
}

#[test]
fn text_from_the_store_cannot_forge_report_lines() {
    let lab = Lab::new();
    let key = lab.private("signer");
    let subject = lab.subject();
    let statement = Statement::about(
        &subject.digest,
        SIGN_PREDICATE_TYPE,
        serde_json::json!({}),
        &BTreeMap::new(),
    );
    let bytes = bundle::build(&SigstoreSigner::with_key(&key), &statement).unwrap();
    let store = lab.store();
    let (digest, size) = store.push_blob(&mut bytes.as_slice(), None).unwrap();
    let mut empty: &[u8] = bundle::EMPTY_CONFIG;
    store.push_blob(&mut empty, None).unwrap();
    let forged_time = "2026-01-01T00:00:00Z\n  verified  legacy sig layer sha256:0000";
    let manifest = bundle::referrer_manifest(
        &subject,
        Descriptor::new(bundle::MEDIA_TYPE, digest, size),
        SIGN_PREDICATE_TYPE,
        forged_time,
    );
    push_manifest(&store, &manifest, None);
    let out = lab.verify("signer", &[]);
    assert!(out.status.success());
    let text = stdout(&out);
    assert_eq!(
        text.lines()
            .filter(|l| l.trim_start().starts_with("verified"))
            .count(),
        1,
        "{text}"
    );
    assert!(text.contains("\\n  verified"), "{text}");
}

#[test]
fn tree_follows_referrers_of_referrers_and_shows_damaged_tags() {
    let lab = Lab::new();
    let referrer: Digest = lab.signed("signer", &[]).parse().unwrap();
    lab.signed("signer", &["--format", "legacy"]);
    // A signature of the signature.
    let store = lab.store();
    let signed_referrer = store.resolve(&Target::digest(referrer.clone())).unwrap();
    let key = lab.private("signer");
    let statement = Statement::about(
        &referrer,
        SIGN_PREDICATE_TYPE,
        serde_json::json!({}),
        &BTreeMap::new(),
    );
    let nested = lab.push_bundle_referrer(
        &signed_referrer,
        &bundle::build(&SigstoreSigner::with_key(&key), &statement).unwrap(),
    );
    let out = modelseal()
        .args(["tree", &lab.reference(), "--output", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["referrers"][0]["digest"], referrer.to_string());
    assert_eq!(
        json["referrers"][0]["referrers"][0]["digest"],
        nested.digest.to_string()
    );
    // A .sig tag that is no image manifest is shown as such; the rest is still listed.
    let tag = legacy::signature_tag(&lab.subject().digest);
    let not_a_manifest =
        br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}"#;
    store
        .push_manifest(ManifestPush {
            bytes: not_a_manifest,
            media_type: MEDIA_TYPE_IMAGE_MANIFEST,
            artifact_type: None,
            tag: Some(&tag),
            condition: TagCondition::Always,
        })
        .unwrap();
    let out = modelseal()
        .args(["tree", &lab.reference()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("cannot be read: missing field `config`"),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains(&referrer.to_string()));
    // A manifest damaged on disk stops the listing: its subject cannot be known.
    let path = lab.blob_path(&nested.digest);
    let mut bytes = fs::read(&path).unwrap();
    bytes.push(b' ');
    fs::write(&path, bytes).unwrap();
    let out = modelseal()
        .args(["tree", &lab.reference()])
        .output()
        .unwrap();
    assert_fails(&out, 1, "should be");
}

#[test]
fn a_key_hint_naming_another_key_decides_nothing() {
    let lab = Lab::new();
    lab.key_pair("other", Algorithm::EcdsaP256);
    // Signed by `signer`, its hint naming `other`.
    let statement = Statement::about(
        &lab.subject().digest,
        SIGN_PREDICATE_TYPE,
        serde_json::json!({}),
        &BTreeMap::new(),
    );
    let signer = lab.private("signer");
    let bytes = bundle::build(&SigstoreSigner::with_key(&signer), &statement).unwrap();
    let mut json: Value = serde_json::from_slice(&bytes).unwrap();
    json["verificationMaterial"]["publicKey"]["hint"] =
        bundle::key_hint(&lab.private("other").public_key())
            .unwrap()
            .into();
    lab.push_bundle_referrer(&lab.subject(), &serde_json::to_vec(&json).unwrap());
    // The key given decides: `other` is told no, `signer` yes.
    let out = lab.verify("other", &[]);
    assert_fails(&out, 1, "verifies with key");
    assert!(stdout(&out).contains("does not verify with this key"));
    let out = lab.verify("signer", &[]);
    assert!(out.status.success(), "{}", stdout(&out));
}

#[test]
fn a_key_of_a_curve_modelseal_does_not_verify_is_refused_not_confused() {
    let lab = Lab::new();
    lab.signed("signer", &[]);
    // A P-384 public key (openssl): never read as P-256.
    let pem = Command::new("openssl")
        .args(["ecparam", "-name", "secp384r1", "-genkey", "-noout"])
        .output()
        .expect("openssl is required");
    fs::write(lab.ws.path("p384.pem"), pem.stdout).unwrap();
    let public = Command::new("openssl")
        .args(["ec", "-pubout", "-in"])
        .arg(lab.ws.path("p384.pem"))
        .output()
        .unwrap();
    assert!(public.status.success());
    fs::write(lab.ws.path("p384.pub"), public.stdout).unwrap();
    let out = lab.verify("p384", &[]);
    assert_fails(&out, 2, "cannot load the public key");
}

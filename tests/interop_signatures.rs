//! Signatures modelseal did not make verify with modelseal, and signatures modelseal makes
//! verify with an independent verifier.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::process::Command;

use common::*;
use modelseal::keys::PublicKey;
use modelseal::oci::{
    Descriptor, Digest, ImageManifest, LayoutStore, MEDIA_TYPE_IMAGE_MANIFEST, ManifestPush, Store,
    TagCondition, fetch_blob,
};
use modelseal::signature::{MAX_SIGNATURE_BYTES, bundle, legacy};

const MODEL_SIGNING: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/model-signing");

/// The keyed bundle `model_signing sign key` wrote: its DSSE signature verifies with its key,
/// and its statement's subject digest is the one model signing derives from the files.
#[test]
fn verifies_a_bundle_written_by_model_signing() {
    let bytes = fs::read(format!("{MODEL_SIGNING}/model.sig")).unwrap();
    let key = PublicKey::from_pem(&fs::read(format!("{MODEL_SIGNING}/key.pub")).unwrap()).unwrap();
    let parsed = bundle::parse(&bytes).unwrap();
    let statement = bundle::open(&parsed, &key).unwrap();
    assert_eq!(
        statement.predicate_type,
        "https://model_signing/signature/v1.0"
    );

    // model signing's subject: SHA-256 over the files' raw SHA-256 digests, in name order.
    let mut names: Vec<String> = fs::read_dir(SAMPLE_MODEL)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let mut concatenated = Vec::new();
    for name in &names {
        let digest = Digest::sha256_of(&fs::read(format!("{SAMPLE_MODEL}/{name}")).unwrap());
        concatenated.extend(hex::decode(digest.hex()).unwrap());
    }
    let expected = Digest::sha256_of(&concatenated);
    assert!(
        statement.subject_for(&expected).is_some(),
        "{:?}",
        statement.subject_digests()
    );

    // Its per-file digests are the layer digests of the ModelPack of the same files.
    let ws = Workspace::new();
    ws.pack("v1");
    let out = modelseal()
        .args(["inspect", &ws.layout_ref("v1"), "--output", "json"])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let layers: BTreeMap<String, String> = json["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["filepath"].as_str().unwrap().to_string(),
                l["digest"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for resource in statement.predicate["resources"].as_array().unwrap() {
        let name = resource["name"].as_str().unwrap();
        assert_eq!(
            layers[name],
            format!("sha256:{}", resource["digest"].as_str().unwrap()),
            "{name}"
        );
    }

    // A flipped byte in the signed payload breaks it.
    let mut tampered: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let payload = tampered["dsseEnvelope"]["payload"]
        .as_str()
        .unwrap()
        .to_string();
    let flipped = if payload.starts_with('e') {
        payload.replacen('e', "f", 1)
    } else {
        format!("e{}", &payload[1..])
    };
    tampered["dsseEnvelope"]["payload"] = serde_json::Value::String(flipped);
    let tampered = bundle::parse(&serde_json::to_vec(&tampered).unwrap()).unwrap();
    assert!(bundle::open(&tampered, &key).is_err());
}

/// A cosign v2 signature assembled by hand from the reference's byte layout and signed with
/// OpenSSL: nothing of modelseal's signing code is involved.
#[test]
fn verifies_a_cosign_legacy_signature_made_with_openssl() {
    let ws = Workspace::new();
    let digest = ws.pack("v1");
    let key = ws.path("key.pem");
    let public = ws.path("key.pub");
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl is required");
        assert!(out.status.success(), "openssl {args:?}: {}", stderr(&out));
        out.stdout
    };
    let pem = run(&["ecparam", "-name", "prime256v1", "-genkey", "-noout"]);
    fs::write(ws.path("sec1.pem"), pem).unwrap();
    run(&[
        "pkcs8",
        "-topk8",
        "-nocrypt",
        "-in",
        ws.path("sec1.pem").to_str().unwrap(),
        "-out",
        key.to_str().unwrap(),
    ]);
    run(&[
        "ec",
        "-in",
        key.to_str().unwrap(),
        "-pubout",
        "-out",
        public.to_str().unwrap(),
    ]);

    let payload = format!(
        r#"{{"critical":{{"identity":{{"docker-reference":"registry.example.com/models/llama"}},"image":{{"docker-manifest-digest":"{digest}"}},"type":"cosign container image signature"}},"optional":null}}"#
    );
    assert_eq!(payload.len(), 249);
    fs::write(ws.path("payload"), &payload).unwrap();
    let signature = run(&[
        "dgst",
        "-sha256",
        "-sign",
        key.to_str().unwrap(),
        ws.path("payload").to_str().unwrap(),
    ]);
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(&signature);
    let payload_digest = Digest::sha256_of(payload.as_bytes());
    let config = format!(
        r#"{{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{{"created":"0001-01-01T00:00:00Z"}}],"os":"","rootfs":{{"type":"layers","diff_ids":["{payload_digest}"]}},"config":{{}}}}"#
    );
    assert_eq!(config.len(), 233);
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","size":233,"digest":"{}"}},"layers":[{{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","size":249,"digest":"{payload_digest}","annotations":{{"dev.cosignproject.cosign/signature":"{encoded}"}}}}]}}"#,
        Digest::sha256_of(config.as_bytes())
    );
    let store = LayoutStore::open(&ws.layout()).unwrap();
    store.push_blob(&mut payload.as_bytes(), None).unwrap();
    store.push_blob(&mut config.as_bytes(), None).unwrap();
    let subject: Digest = digest.parse().unwrap();
    store
        .push_manifest(ManifestPush {
            bytes: manifest.as_bytes(),
            media_type: MEDIA_TYPE_IMAGE_MANIFEST,
            artifact_type: None,
            tag: Some(&legacy::signature_tag(&subject)),
            condition: TagCondition::Always,
        })
        .unwrap();
    let out = modelseal()
        .args(["verify", "--key"])
        .arg(&public)
        .arg(ws.layout_ref("v1"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("1 of 1 signatures verified"));
}

/// A bundle modelseal writes, read and checked by sigstore-rust: sigstore-types parses it, and
/// sigstore-crypto (aws-lc-rs, not the RustCrypto code modelseal signs with) verifies its DSSE
/// signature. sigstore-verify's full verifier refuses any bundle that has neither a transparency
/// log entry nor an RFC 3161 timestamp, whatever the policy (sigstore-bundle 0.15.1,
/// `validate_common`); the test pins that this, and nothing else, is what it objects to.
#[test]
fn our_bundle_verifies_with_sigstore_rust() {
    use sigstore_verify::bundle::Error as BundleError;
    use sigstore_verify::crypto::{SigningScheme, verify_signature};
    use sigstore_verify::trust_root::{SIGSTORE_PRODUCTION_TRUSTED_ROOT, TrustedRoot};
    use sigstore_verify::types::{
        Artifact, ArtifactDigest, DerPublicKey, Sha256Hash, SignatureContent,
    };
    use sigstore_verify::{Error, PublicKeyVerificationPolicy, Verifier};

    let ws = Workspace::new();
    let digest: Digest = ws.pack("v1").parse().unwrap();
    let out = modelseal()
        .args(["generate-key-pair", "--output-key-prefix"])
        .arg(ws.path("k"))
        .env("COSIGN_PASSWORD", "")
        .output()
        .unwrap();
    assert!(out.status.success());
    let out = modelseal()
        .args(["sign", "--key"])
        .arg(ws.path("k.key"))
        .arg(ws.layout_ref("v1"))
        .env("COSIGN_PASSWORD", "")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));

    let store = LayoutStore::open(&ws.layout()).unwrap();
    let referrer = store
        .referrers(&digest, Some(bundle::MEDIA_TYPE))
        .unwrap()
        .remove(0);
    let manifest: ImageManifest =
        serde_json::from_slice(&store.fetch_manifest(&referrer).unwrap()).unwrap();
    let layer: &Descriptor = &manifest.layers[0];
    let bytes = fetch_blob(&store, layer, MAX_SIGNATURE_BYTES).unwrap();
    let parsed =
        sigstore_verify::types::Bundle::from_json(std::str::from_utf8(&bytes).unwrap()).unwrap();
    let public = PublicKey::from_pem(&fs::read(ws.path("k.pub")).unwrap()).unwrap();
    let der = DerPublicKey::new(public.to_spki_der().unwrap());

    let SignatureContent::DsseEnvelope(envelope) = &parsed.content else {
        panic!("not a DSSE bundle");
    };
    verify_signature(
        &der,
        &envelope.pae(),
        &envelope.signature.sig,
        SigningScheme::EcdsaP256Sha256,
    )
    .unwrap();
    let mut altered = envelope.clone();
    altered.payload_type = "text/plain".into();
    assert!(
        verify_signature(
            &der,
            &altered.pae(),
            &altered.signature.sig,
            SigningScheme::EcdsaP256Sha256
        )
        .is_err()
    );
    let statement: serde_json::Value = serde_json::from_slice(envelope.payload.as_bytes()).unwrap();
    assert_eq!(statement["subject"][0]["digest"]["sha256"], digest.hex());

    let root = TrustedRoot::from_json(SIGSTORE_PRODUCTION_TRUSTED_ROOT).unwrap();
    let verifier = Verifier::new(&root).unwrap();
    let policy = PublicKeyVerificationPolicy::new(der).skip_tlog_unsafe();
    let artifact = Artifact::from_digest(ArtifactDigest::sha256(
        Sha256Hash::from_hex(digest.hex()).unwrap(),
    ));
    match verifier.verify(artifact, &parsed, &policy) {
        Err(Error::Bundle(BundleError::MissingSigningTimeEvidence)) => {}
        other => panic!(
            "sigstore-verify changed its mind about keyed bundles without a log entry: {other:?}"
        ),
    }
}

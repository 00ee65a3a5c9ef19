//! `attest` and `verify-attestation` on layouts and a registry: round trips for every predicate
//! type in both formats, and every bad input the attestation issue names.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::registry::Registry;
use common::*;
use modelseal::attest::attach::{DSSE_MEDIA_TYPE, PREDICATE_TYPE_ANNOTATION};
use modelseal::attest::dsse;
use modelseal::attest::predicate::SHORT_NAMES;
use modelseal::attest::statement::PAYLOAD_TYPE;
use modelseal::keys::{Algorithm, PrivateKey};
use modelseal::oci::{
    Annotations, Descriptor, Digest, LayoutStore, MEDIA_TYPE_IMAGE_MANIFEST, ManifestPush, Store,
    TagCondition,
};
use modelseal::reference::Target;
use modelseal::signature::legacy;
use serde_json::{Value, json};

/// A key pair as plain PKCS#8 and PKIX PEM files (no password), and the key itself, for
/// crafting attestations in the tests.
fn plain_keys(ws: &Workspace, name: &str) -> (PathBuf, PathBuf, PrivateKey) {
    let key = PrivateKey::generate(Algorithm::EcdsaP256).unwrap();
    let der = key.to_pkcs8_der().unwrap();
    let private = ws.path(&format!("{name}.pem"));
    write_private(
        &private,
        pem::encode(&pem::Pem::new("PRIVATE KEY", der.to_vec())),
    );
    let public = ws.path(&format!("{name}.pub"));
    std::fs::write(&public, key.public_key().to_pem().unwrap()).unwrap();
    (private, public, key)
}

fn write_predicate(ws: &Workspace, value: &Value) -> PathBuf {
    let path = ws.path("predicate.json");
    std::fs::write(&path, serde_json::to_vec(value).unwrap()).unwrap();
    path
}

/// `attest --key <key> --type <kind> --predicate <predicate> <extra…> <target>`, run.
fn attest(key: &Path, kind: &str, predicate: &Path, extra: &[&str], target: &str) -> Output {
    let mut args = vec![
        "attest",
        "--key",
        key.to_str().unwrap(),
        "--type",
        kind,
        "--predicate",
        predicate.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    args.push(target);
    run(&args)
}

/// [`attest`] that must succeed; its standard output.
fn attested(key: &Path, kind: &str, predicate: &Path, extra: &[&str], target: &str) -> String {
    let out = attest(key, kind, predicate, extra, target);
    assert!(
        out.status.success(),
        "attest {kind} {target}: {}",
        stderr(&out)
    );
    stdout(&out)
}

fn verify_json(public: &Path, kind: &str, reference: &str) -> (i32, Value) {
    let out = run(&[
        "verify-attestation",
        "--key",
        public.to_str().unwrap(),
        "--type",
        kind,
        reference,
        "--output",
        "json",
    ]);
    let report =
        serde_json::from_str(&stdout(&out)).unwrap_or_else(|e| panic!("{e}: {}", stderr(&out)));
    (out.status.code().unwrap(), report)
}

#[test]
fn every_predicate_type_round_trips_in_both_formats() {
    let ws = Workspace::new();
    let digest = ws.pack("v1");
    let layout = ws.layout_ref("v1");
    let (private, public, _) = plain_keys(&ws, "signer");
    let mut kinds: Vec<(String, String)> = SHORT_NAMES
        .iter()
        .map(|(short, uri)| (short.to_string(), uri.to_string()))
        .collect();
    kinds.push((
        "https://example.com/model-eval/v1".into(),
        "https://example.com/model-eval/v1".into(),
    ));
    for (name, uri) in &kinds {
        // Provenance must be SLSA provenance; other fields are allowed in it.
        let predicate = match uri.as_str() {
            "https://slsa.dev/provenance/v1" => json!({
                "kind": name,
                "buildDefinition": {"buildType": "https://example.com/build/v1", "externalParameters": {}},
                "runDetails": {"builder": {"id": "https://example.com/builder"}},
            }),
            "https://slsa.dev/provenance/v0.2" => json!({
                "kind": name,
                "builder": {"id": "https://example.com/builder"},
                "buildType": "https://example.com/build/v1",
            }),
            _ => json!({"kind": name, "nested": {"list": [1, 2, 3]}}),
        };
        let file = write_predicate(&ws, &predicate);
        for format in ["bundle", "legacy"] {
            attested(&private, name, &file, &["--format", format], &layout);
        }
        let (code, report) = verify_json(&public, name, &layout);
        assert_eq!(code, 0, "{name}: {report}");
        assert_eq!(report["predicateType"], *uri);
        let attestations = report["attestations"].as_array().unwrap();
        let formats: Vec<&str> = attestations
            .iter()
            .filter(|a| a["verified"] == true)
            .map(|a| a["format"].as_str().unwrap())
            .collect();
        // Types that share a URI (spdx and spdxjson, slsaprovenance and its 02 alias) see
        // each other's attestations too.
        assert!(
            formats.contains(&"bundle") && formats.contains(&"legacy"),
            "{name}: {report}"
        );
        for attestation in attestations {
            let statement = &attestation["statement"];
            assert_eq!(statement["_type"], "https://in-toto.io/Statement/v1");
            assert_eq!(statement["predicateType"], *uri);
            assert_eq!(
                statement["subject"][0]["digest"]["sha256"],
                digest.trim_start_matches("sha256:")
            );
            let expected = if uri.as_str() == SHORT_NAMES[9].1 {
                None
            } else {
                Some(&predicate)
            };
            if let Some(expected) = expected
                && statement["predicate"]["kind"] == *name
            {
                assert_eq!(&statement["predicate"], expected);
            }
        }
    }
    // Signatures are not attestations, and attestations are not signatures.
    ok(&["sign", "--key", private.to_str().unwrap(), &layout]);
    let report = ok(&["verify", "--key", public.to_str().unwrap(), &layout]);
    assert!(report.contains("1 of 1 signatures verified"), "{report}");
}

#[test]
fn a_custom_predicate_is_the_files_text() {
    let ws = Workspace::new();
    ws.pack("v1");
    let layout = ws.layout_ref("v1");
    let (private, public, _) = plain_keys(&ws, "signer");
    let file = ws.path("notes.txt");
    std::fs::write(&file, "reviewed by the model risk board\n").unwrap();
    attested(&private, "custom", &file, &[], &layout);
    let (code, report) = verify_json(&public, "custom", &layout);
    assert_eq!(code, 0, "{report}");
    let predicate = &report["attestations"][0]["statement"]["predicate"];
    assert_eq!(predicate["Data"], "reviewed by the model risk board\n");
    assert!(predicate["Timestamp"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn bad_predicates_are_refused_and_nothing_is_attached() {
    let ws = Workspace::new();
    ws.pack("v1");
    let layout = ws.layout_ref("v1");
    let (private, _, _) = plain_keys(&ws, "signer");
    let before = snapshot(&ws.layout());
    let huge = ws.path("huge.json");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(200 << 20)
        .unwrap();
    let not_provenance = ws.path("not-provenance.json");
    std::fs::write(&not_provenance, br#"{"buildDefinition": {}}"#).unwrap();
    let cases: Vec<(PathBuf, &str, &str)> = vec![
        (
            not_provenance.clone(),
            "slsaprovenance1",
            "not SLSA provenance v1",
        ),
        (
            write_predicate(&ws, &json!([1, 2])),
            "slsaprovenance1",
            "not a JSON object",
        ),
        (huge.clone(), "slsaprovenance1", "larger than"),
        (ws.path("missing.json"), "vuln", "cannot read"),
    ];
    for (file, kind, needle) in &cases {
        let out = attest(&private, kind, file, &[], &layout);
        assert_fails(&out, 2, needle);
    }
    let file = write_predicate(&ws, &json!({}));
    let out = attest(&private, "sbom", &file, &[], &layout);
    assert_fails(&out, 2, "neither a predicate type URI");
    assert_eq!(snapshot(&ws.layout()), before, "nothing was written");
}

/// Pushes a legacy `.att` manifest holding these envelopes for `subject`.
fn push_att(store: &LayoutStore, subject: &Digest, envelopes: &[(Vec<u8>, &str)]) {
    let mut layers = Vec::new();
    for (bytes, claimed_type) in envelopes {
        let (digest, size) = store.push_blob(&mut bytes.as_slice(), None).unwrap();
        let mut layer = Descriptor::new(DSSE_MEDIA_TYPE, digest, size);
        layer.annotations = Some(Annotations::from([
            (
                PREDICATE_TYPE_ANNOTATION.to_string(),
                claimed_type.to_string(),
            ),
            (legacy::SIGNATURE_ANNOTATION.to_string(), String::new()),
        ]));
        layers.push(layer);
    }
    let config = legacy::config_blob(&layers);
    let (config_digest, config_size) = store.push_blob(&mut config.as_slice(), None).unwrap();
    let manifest = legacy::manifest(
        layers,
        Descriptor::new(legacy::CONFIG_MEDIA_TYPE, config_digest, config_size),
    );
    let bytes = serde_json::to_vec(&manifest).unwrap();
    store
        .push_manifest(ManifestPush {
            bytes: &bytes,
            media_type: MEDIA_TYPE_IMAGE_MANIFEST,
            artifact_type: None,
            tag: Some(&legacy::attestation_tag(subject)),
            condition: TagCondition::Always,
        })
        .unwrap();
}

fn envelope(key: &PrivateKey, payload_type: &str, statement: &Value) -> Vec<u8> {
    let payload = serde_json::to_vec(statement).unwrap();
    serde_json::to_vec(&dsse::sign(key, payload_type, payload)).unwrap()
}

#[test]
fn forged_and_mismatched_attestations_are_rejected_with_their_reason() {
    let ws = Workspace::new();
    let digest: Digest = ws.pack("v1").parse().unwrap();
    let layout = ws.layout_ref("v1");
    let (_, public, key) = plain_keys(&ws, "signer");
    let (_, _, stranger) = plain_keys(&ws, "stranger");
    let provenance = "https://slsa.dev/provenance/v1";
    let statement = |kind: &str, about: &Digest, version: &str| {
        json!({
            "_type": version,
            "subject": [{"name": "models/tiny", "digest": {"sha256": about.hex()}}],
            "predicateType": kind,
            "predicate": {
                "buildDefinition": {"buildType": "https://example.com/build/v1", "externalParameters": {}},
                "runDetails": {"builder": {"id": "https://example.com/builder"}},
            },
        })
    };
    let v1 = "https://in-toto.io/Statement/v1";
    let other = Digest::sha256_of(b"another artifact");
    let store = LayoutStore::open(&ws.layout()).unwrap();
    push_att(
        &store,
        &digest,
        &[
            // About another digest.
            (
                envelope(&key, PAYLOAD_TYPE, &statement(provenance, &other, v1)),
                provenance,
            ),
            // Signed by another key.
            (
                envelope(&stranger, PAYLOAD_TYPE, &statement(provenance, &digest, v1)),
                provenance,
            ),
            // Not an in-toto payload.
            (
                envelope(&key, "text/plain", &statement(provenance, &digest, v1)),
                provenance,
            ),
            // Says provenance on the outside, is a vulnerability report inside.
            (
                envelope(
                    &key,
                    PAYLOAD_TYPE,
                    &statement(
                        "https://cosign.sigstore.dev/attestation/vuln/v1",
                        &digest,
                        v1,
                    ),
                ),
                provenance,
            ),
        ],
    );
    let (code, report) = verify_json(&public, "slsaprovenance1", &layout);
    assert_eq!(code, 1, "{report}");
    let reasons: Vec<&str> = report["attestations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons.len(), 4, "{report}");
    assert!(reasons[0].contains(&format!("not {digest}")), "{reasons:?}");
    assert!(reasons[1].contains("signature"), "{reasons:?}");
    assert!(reasons[2].contains("payload type"), "{reasons:?}");
    assert!(
        reasons[3].contains("is a https://cosign.sigstore.dev/attestation/vuln/v1 statement"),
        "{reasons:?}"
    );
    let out = run(&[
        "verify-attestation",
        "--key",
        public.to_str().unwrap(),
        "--type",
        "slsaprovenance1",
        &layout,
    ]);
    assert_fails(&out, 1, "no https://slsa.dev/provenance/v1 attestation of");

    // cosign's attest writes Statement v0.1: read as well as v1.
    push_att(
        &store,
        &digest,
        &[(
            envelope(
                &key,
                PAYLOAD_TYPE,
                &statement(provenance, &digest, "https://in-toto.io/Statement/v0.1"),
            ),
            provenance,
        )],
    );
    let (code, report) = verify_json(&public, "slsaprovenance1", &layout);
    assert_eq!(code, 0, "{report}");
}

#[test]
fn a_bundle_attestation_about_another_digest_is_rejected() {
    let ws = Workspace::new();
    let digest: Digest = ws.pack("v1").parse().unwrap();
    let other_dir = ws.path("other");
    copy_dir(&ws.model(), &other_dir);
    std::fs::write(other_dir.join("extra.md"), b"x").unwrap();
    assert!(
        ws.pack_dir(&other_dir, &ws.layout_ref("other"), &[])
            .status
            .success()
    );
    let (private, public, _) = plain_keys(&ws, "signer");
    let file = write_predicate(
        &ws,
        &json!({
            "buildDefinition": {"buildType": "https://example.com/build/v1", "externalParameters": {}},
            "runDetails": {"builder": {"id": "https://example.com/builder"}},
        }),
    );
    let referrer = attested(
        &private,
        "slsaprovenance1",
        &file,
        &[],
        &ws.layout_ref("other"),
    );
    // Re-point that referrer at the first artifact: its signed statement still names the other.
    let store = LayoutStore::open(&ws.layout()).unwrap();
    let subject = store.resolve(&Target::tag("v1")).unwrap();
    let found = store
        .referrers(&store.resolve(&Target::tag("other")).unwrap().digest, None)
        .unwrap();
    assert_eq!(found[0].digest.to_string(), referrer.trim());
    let mut manifest: Value =
        serde_json::from_slice(&store.fetch_manifest(&found[0]).unwrap()).unwrap();
    manifest["subject"] =
        json!({"mediaType": subject.media_type, "digest": digest, "size": subject.size});
    let bytes = serde_json::to_vec(&manifest).unwrap();
    store
        .push_manifest(ManifestPush {
            bytes: &bytes,
            media_type: MEDIA_TYPE_IMAGE_MANIFEST,
            artifact_type: Some("application/vnd.dev.sigstore.bundle.v0.3+json"),
            tag: None,
            condition: TagCondition::Always,
        })
        .unwrap();
    let (code, report) = verify_json(&public, "slsaprovenance1", &ws.layout_ref("v1"));
    assert_eq!(code, 1, "{report}");
    assert!(
        report["attestations"][0]["reason"]
            .as_str()
            .unwrap()
            .contains(&format!("not {digest}")),
        "{report}"
    );
}

#[test]
fn attestations_work_on_a_registry_and_travel_with_copies() {
    let registry = Registry::start();
    let ws = Workspace::new();
    let reference = format!("{}:v1", registry.reference("models/tiny"));
    assert!(ws.pack_dir(&ws.model(), &reference, &[]).status.success());
    let (private, public, _) = plain_keys(&ws, "signer");
    let file = write_predicate(&ws, &json!({"scanner": {"uri": "modelseal"}, "result": []}));
    for format in ["bundle", "legacy"] {
        attested(&private, "vuln", &file, &["--format", format], &reference);
    }
    let (code, report) = verify_json(&public, "vuln", &reference);
    assert_eq!(code, 0, "{report}");
    assert_eq!(
        report["attestations"].as_array().unwrap().len(),
        2,
        "{report}"
    );
    let copied = format!("oci:{}:v1", ws.path("pulled").display());
    ok(&["copy", &reference, &copied]);
    let (code, report) = verify_json(&public, "vuln", &copied);
    assert_eq!(code, 0, "{report}");
    assert_eq!(
        report["attestations"].as_array().unwrap().len(),
        2,
        "{report}"
    );
}

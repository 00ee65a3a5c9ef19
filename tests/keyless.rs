//! Keyless signing and verification through the real binary, against Sigstore services
//! started in the test (npm's @sigstore/mock: Fulcio, Rekor v1, a timestamp authority) and
//! their trusted root: both signature formats, attestations, identities and GitHub workflow
//! claims, policies with keyless authorities, and each way a keyless signature must fail.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::sigstore_mock::{Sigstore, token};
use common::*;
use modelseal::oci::{Descriptor, ImageManifest, LayoutStore, Store};
use modelseal::reference::Target;
use modelseal::signature::{legacy, sigstore_annotations};
use serde_json::{Value, json};

const ISSUER: &str = "https://token.actions.githubusercontent.com";
const IDENTITY: &str =
    "https://github.com/acme/models/.github/workflows/release.yml@refs/heads/main";

/// A workspace with a packed model, the services, and a token for IDENTITY.
struct Lab {
    ws: Workspace,
    sigstore: Sigstore,
    token: PathBuf,
}

impl Lab {
    fn new() -> Lab {
        Lab::with_clocks(&[])
    }

    fn with_clocks(env: &[(&str, &str)]) -> Lab {
        let ws = Workspace::new();
        ws.pack("v1");
        let sigstore = Sigstore::start(&ws.path("sigstore"), env);
        let token_path = ws.path("token.jwt");
        std::fs::write(&token_path, token(&github_claims("acme/models"))).unwrap();
        Lab {
            ws,
            sigstore,
            token: token_path,
        }
    }

    fn reference(&self) -> String {
        self.ws.layout_ref("v1")
    }

    /// `sign --keyless` (or `attest --keyless`) with these arguments.
    fn keyless(&self, command: &str, extra: &[&str]) -> Output {
        let mut args = vec![
            command.to_string(),
            "--keyless".into(),
            "--identity-token".into(),
        ];
        args.push(self.token.display().to_string());
        args.extend(self.sigstore.flags());
        args.extend(extra.iter().map(|s| s.to_string()));
        args.push(self.reference());
        modelseal().args(&args).output().unwrap()
    }

    fn signed(&self, extra: &[&str]) {
        let out = self.keyless("sign", extra);
        assert!(out.status.success(), "{}", stderr(&out));
    }

    /// `verify` (or `verify-attestation`) by identity against the services' root.
    fn verify(&self, command: &str, extra: &[&str]) -> Output {
        let root = self.sigstore.trusted_root.display().to_string();
        let mut args = vec![command, "--trusted-root", &root];
        args.extend(extra);
        let reference = self.reference();
        args.push(&reference);
        modelseal().args(&args).output().unwrap()
    }

    fn store(&self) -> LayoutStore {
        LayoutStore::open(&self.ws.layout()).unwrap()
    }
}

/// `verify` rejected both signatures (bundle and legacy), each for `reason`.
fn assert_both_rejected(out: &Output, reason: &str) {
    assert_fails(out, 1, "no signature of");
    let report = stdout(out);
    assert_eq!(report.matches(reason).count(), 2, "{reason}: {report}");
}

fn verify_with_key(lab: &Lab, public: &Path) -> Output {
    run(&[
        "verify",
        "--key",
        public.to_str().unwrap(),
        &lab.reference(),
    ])
}

fn github_claims(repository: &str) -> Value {
    json!({
        "iss": ISSUER,
        "sub": IDENTITY,
        "aud": "sigstore",
        "repository": repository,
        "ref": "refs/heads/main",
        "event_name": "push",
        "sha": "0123456789abcdef0123456789abcdef01234567",
        "workflow": "release",
    })
}

const BY_IDENTITY: [&str; 4] = [
    "--certificate-identity",
    IDENTITY,
    "--certificate-oidc-issuer",
    ISSUER,
];

fn verified_count(out: &Output) -> String {
    stdout(out).lines().last().unwrap_or_default().to_string()
}

#[test]
fn keyless_signatures_in_both_formats_verify_by_identity() {
    let lab = Lab::new();
    lab.signed(&[]);
    lab.signed(&["--format", "legacy"]);
    let out = lab.verify("verify", &BY_IDENTITY);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(verified_count(&out), "2 of 2 signatures verified");
    // An anchored regexp matches the whole identity.
    let out = lab.verify(
        "verify",
        &[
            "--certificate-identity-regexp",
            r"https://github\.com/acme/.*",
            "--certificate-oidc-issuer-regexp",
            r"https://token\.actions\.githubusercontent\.com",
            "--output",
            "json",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["verified"], true);
    assert_eq!(report["key"], Value::Null);
    assert!(report["identity"].as_str().unwrap().contains("acme"));
    // Each says when the log recorded it.
    for signature in report["signatures"].as_array().unwrap() {
        let logged = signature["logged"].as_str().unwrap();
        assert!(logged.parse::<jiff::Timestamp>().is_ok(), "{signature}");
    }
    // The bundle carries the certificate and the log entry with its proof, as cosign v3's.
    let store = lab.store();
    let subject = store.resolve(&Target::tag("v1")).unwrap();
    let referrer = store.referrers(&subject.digest, None).unwrap().remove(0);
    let manifest: ImageManifest =
        serde_json::from_slice(&store.fetch_manifest(&referrer).unwrap()).unwrap();
    let bundle: Value =
        serde_json::from_slice(&std::fs::read(blob_path(&lab.ws, &manifest.layers[0])).unwrap())
            .unwrap();
    let material = &bundle["verificationMaterial"];
    assert!(material["certificate"]["rawBytes"].is_string(), "{bundle}");
    let entry = &material["tlogEntries"][0];
    assert_eq!(entry["kindVersion"]["kind"], "dsse");
    assert!(entry["inclusionPromise"]["signedEntryTimestamp"].is_string());
    assert!(entry["inclusionProof"]["checkpoint"]["envelope"].is_string());
}

fn blob_path(ws: &Workspace, descriptor: &Descriptor) -> PathBuf {
    ws.layout()
        .join("blobs/sha256")
        .join(descriptor.digest.hex())
}

#[test]
fn keyless_attestations_in_both_formats_verify_with_workflow_claims() {
    let lab = Lab::new();
    let predicate = lab.ws.path("predicate.json");
    std::fs::write(&predicate, r#"{"scanner":"x"}"#).unwrap();
    let predicate = predicate.display().to_string();
    for format in ["bundle", "legacy"] {
        let out = lab.keyless(
            "attest",
            &[
                "--type",
                "custom",
                "--predicate",
                &predicate,
                "--format",
                format,
            ],
        );
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let mut args = vec!["--type", "custom"];
    args.extend(BY_IDENTITY);
    args.extend([
        "--certificate-github-workflow-repository",
        "acme/models",
        "--certificate-github-workflow-ref",
        "refs/heads/main",
        "--certificate-github-workflow-trigger",
        "push",
        "--certificate-github-workflow-sha",
        "0123456789abcdef0123456789abcdef01234567",
        "--certificate-github-workflow-name",
        "release",
    ]);
    let out = lab.verify("verify-attestation", &args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(verified_count(&out), "2 of 2 attestations verified");
    // One claim that differs rejects both.
    let mut args = vec!["--type", "custom"];
    args.extend(BY_IDENTITY);
    args.extend(["--certificate-github-workflow-repository", "acme/other"]);
    let out = lab.verify("verify-attestation", &args);
    assert_fails(&out, 1, "verifies with identity");
    assert_eq!(
        stdout(&out)
            .matches(r#"GitHub workflow repository is "acme/models", not "acme/other""#)
            .count(),
        2,
        "{}",
        stdout(&out)
    );
}

#[test]
fn the_wrong_identity_issuer_or_trust_root_is_rejected_with_its_reason() {
    let lab = Lab::new();
    lab.signed(&[]);
    lab.signed(&["--format", "legacy"]);
    let cases: [(&[&str], &str); 4] = [
        // The right identity from the wrong issuer.
        (
            &[
                "--certificate-identity",
                IDENTITY,
                "--certificate-oidc-issuer",
                "https://accounts.google.com",
            ],
            "issuer is https://token.actions.githubusercontent.com, not https://accounts.google.com",
        ),
        // A pattern that matches only part of the identity does not match.
        (
            &[
                "--certificate-identity-regexp",
                "https://github.com/acme",
                "--certificate-oidc-issuer",
                ISSUER,
            ],
            "identity is https://github.com/acme/models",
        ),
        (
            &[
                "--certificate-identity",
                "https://github.com/acme/models/.github/workflows/other.yml@refs/heads/main",
                "--certificate-oidc-issuer",
                ISSUER,
            ],
            "not https://github.com/acme/models/.github/workflows/other.yml",
        ),
        // No workflow claims are given; a wrong ref is.
        (
            &[
                "--certificate-identity",
                IDENTITY,
                "--certificate-oidc-issuer",
                ISSUER,
                "--certificate-github-workflow-ref",
                "refs/heads/dev",
            ],
            "GitHub workflow ref is \"refs/heads/main\", not \"refs/heads/dev\"",
        ),
    ];
    for (args, reason) in cases {
        let out = lab.verify("verify", args);
        assert_both_rejected(&out, reason);
    }
    // Against the public-good root (the default), the log and the CA are unknown.
    let out = modelseal()
        .args(["verify"])
        .args(BY_IDENTITY)
        .arg(lab.reference())
        .output()
        .unwrap();
    assert_both_rejected(&out, "No log key valid");
    // Against another instance's root: a chain to an untrusted root, a log it does not know.
    let other = Sigstore::start(&lab.ws.path("other-sigstore"), &[]);
    let out = modelseal()
        .args(["verify", "--trusted-root"])
        .arg(&other.trusted_root)
        .args(BY_IDENTITY)
        .arg(lab.reference())
        .output()
        .unwrap();
    assert_both_rejected(&out, "rejected");
    // A keyless signature is no signature of a key.
    let (_, public) = keys(&lab.ws, "k");
    assert_fails(&verify_with_key(&lab, &public), 1, "no signature of");
}

#[test]
fn a_certificate_expired_when_the_entry_was_logged_is_rejected() {
    // Fulcio issues as of an hour ago (the certificate lived ten minutes); Rekor logs now.
    let hour_ago = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1);
    let lab = Lab::with_clocks(&[("MOCK_FULCIO_CLOCK", &hour_ago.to_string())]);
    lab.signed(&[]);
    lab.signed(&["--format", "legacy"]);
    let out = lab.verify("verify", &BY_IDENTITY);
    assert_both_rejected(&out, "CertExpired");
}

/// Rewrites the `.sig` manifest of `v1` to hold its first layer alone, changed by `change`.
fn tamper_sig_layer(lab: &Lab, change: impl FnOnce(&mut Descriptor)) {
    let (tag, mut manifest) = sig_manifest(lab);
    let store = lab.store();
    manifest.layers.truncate(1);
    change(&mut manifest.layers[0]);
    let bytes = serde_json::to_vec(&manifest).unwrap();
    store
        .push_manifest(modelseal::oci::ManifestPush {
            bytes: &bytes,
            media_type: modelseal::oci::MEDIA_TYPE_IMAGE_MANIFEST,
            artifact_type: None,
            tag: Some(&tag),
            condition: modelseal::oci::TagCondition::Always,
        })
        .unwrap();
}

fn annotation(layer: &Descriptor, key: &str) -> String {
    layer.annotation(key).unwrap().to_string()
}

/// The `.sig` tag of `v1` and its manifest.
fn sig_manifest(lab: &Lab) -> (String, ImageManifest) {
    let store = lab.store();
    let subject = store.resolve(&Target::tag("v1")).unwrap();
    let tag = legacy::signature_tag(&subject.digest);
    let descriptor = store.resolve(&Target::tag(&tag)).unwrap();
    let manifest = serde_json::from_slice(&store.fetch_manifest(&descriptor).unwrap()).unwrap();
    (tag, manifest)
}

fn sig_layer(lab: &Lab) -> Descriptor {
    sig_manifest(lab).1.layers[0].clone()
}

#[test]
fn altered_legacy_annotations_are_rejected_with_their_reason() {
    let lab = Lab::new();
    lab.signed(&["--format", "legacy"]);
    let original = sig_layer(&lab);
    assert!(original.annotation(sigstore_annotations::CHAIN).is_some());
    // Another signature, of the same payload by the same identity: its log entry and its
    // certificate belong to it, not to ours.
    lab.signed(&["--format", "legacy"]);
    let other = sig_manifest(&lab).1.layers[1].clone();
    let rekor_bundle = |layer: &Descriptor| -> Value {
        serde_json::from_str(&annotation(layer, sigstore_annotations::REKOR_BUNDLE)).unwrap()
    };
    let flip_set = {
        let mut bundle = rekor_bundle(&original);
        let set = bundle["SignedEntryTimestamp"].as_str().unwrap().to_string();
        let flipped = if set.starts_with('M') {
            set.replacen('M', "N", 1)
        } else {
            format!("M{}", &set[1..])
        };
        bundle["SignedEntryTimestamp"] = flipped.into();
        bundle.to_string()
    };
    let later_time = {
        let mut bundle = rekor_bundle(&original);
        bundle["Payload"]["integratedTime"] =
            (bundle["Payload"]["integratedTime"].as_i64().unwrap() + 1).into();
        bundle.to_string()
    };
    let cases: Vec<(&str, String, &str)> = vec![
        (
            sigstore_annotations::REKOR_BUNDLE,
            flip_set,
            "inclusion promise",
        ),
        (
            sigstore_annotations::REKOR_BUNDLE,
            later_time,
            "inclusion promise",
        ),
        (
            sigstore_annotations::REKOR_BUNDLE,
            annotation(&other, sigstore_annotations::REKOR_BUNDLE),
            "does not match",
        ),
        (
            sigstore_annotations::CERTIFICATE,
            annotation(&other, sigstore_annotations::CERTIFICATE),
            "",
        ),
        (
            legacy::SIGNATURE_ANNOTATION,
            annotation(&other, legacy::SIGNATURE_ANNOTATION),
            "",
        ),
        (
            sigstore_annotations::CERTIFICATE,
            "not a certificate".into(),
            "holds no certificate",
        ),
        (
            sigstore_annotations::CHAIN,
            annotation(&other, sigstore_annotations::CERTIFICATE).replace("MII", "MIJ"),
            "chain annotation",
        ),
    ];
    for (key, value, reason) in cases {
        tamper_sig_layer(&lab, |layer| {
            *layer = original.clone();
            layer
                .annotations
                .as_mut()
                .unwrap()
                .insert(key.to_string(), value.clone());
        });
        let out = lab.verify("verify", &BY_IDENTITY);
        assert_fails(&out, 1, "no signature of");
        let report = stdout(&out);
        assert!(
            report.contains("rejected") && report.contains(reason),
            "{key}: {report}"
        );
    }
    // Without its log entry a keyless layer is nothing cosign would accept.
    tamper_sig_layer(&lab, |layer| {
        *layer = original.clone();
        layer
            .annotations
            .as_mut()
            .unwrap()
            .remove(sigstore_annotations::REKOR_BUNDLE);
    });
    let out = lab.verify("verify", &BY_IDENTITY);
    assert_fails(&out, 1, "no signature of");
    assert!(
        stdout(&out).contains("no transparency log entry"),
        "{}",
        stdout(&out)
    );
    // Restored, it verifies again.
    tamper_sig_layer(&lab, |layer| *layer = original.clone());
    let out = lab.verify("verify", &BY_IDENTITY);
    assert!(out.status.success(), "{}", stdout(&out));
}

#[test]
fn timestamps_and_signing_configs_work() {
    let lab = Lab::new();
    let stamp = lab.sigstore.timestamp_url();
    lab.signed(&["--timestamp-server-url", &stamp]);
    lab.signed(&["--format", "legacy", "--timestamp-server-url", &stamp]);
    let layer = sig_layer(&lab);
    assert!(layer.annotation(sigstore_annotations::TIMESTAMP).is_some());
    let out = lab.verify("verify", &BY_IDENTITY);
    assert!(out.status.success(), "{}", stdout(&out));
    assert_eq!(verified_count(&out), "2 of 2 signatures verified");

    // The services named by a signing config.
    let config = lab.ws.path("signing_config.json");
    let service = |url: &str| json!([{"url": url, "majorApiVersion": 1, "validFor": {"start": "2020-01-01T00:00:00Z"}, "operator": "test"}]);
    std::fs::write(
        &config,
        json!({
            "mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
            "caUrls": service(&lab.sigstore.url),
            "oidcUrls": [],
            "rekorTlogUrls": service(&lab.sigstore.url),
            "rekorTlogConfig": {"selector": "ANY"},
            "tsaUrls": service(&stamp),
            "tsaConfig": {"selector": "ANY"},
        })
        .to_string(),
    )
    .unwrap();
    let out = modelseal()
        .args(["sign", "--keyless", "--identity-token"])
        .arg(&lab.token)
        .arg("--signing-config")
        .arg(&config)
        .arg(lab.reference())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        verified_count(&lab.verify("verify", &BY_IDENTITY)),
        "3 of 3 signatures verified"
    );

    // A config whose only log is retired (or of API version 2) names none to log in: refused
    // before anything is signed, unless --rekor-url gives one.
    let retired = json!([{"url": lab.sigstore.url, "majorApiVersion": 1, "validFor": {"start": "2020-01-01T00:00:00Z", "end": "2021-01-01T00:00:00Z"}}, {"url": lab.sigstore.url, "majorApiVersion": 2, "validFor": {"start": "2021-01-01T00:00:00Z"}}]);
    std::fs::write(
        &config,
        json!({
            "mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
            "caUrls": service(&lab.sigstore.url),
            "rekorTlogUrls": retired,
        })
        .to_string(),
    )
    .unwrap();
    let before = snapshot(&lab.ws.layout());
    let sign = |extra: &[&str]| {
        modelseal()
            .args(["sign", "--keyless", "--identity-token"])
            .arg(&lab.token)
            .arg("--signing-config")
            .arg(&config)
            .args(extra)
            .arg(lab.reference())
            .output()
            .unwrap()
    };
    assert_fails(
        &sign(&[]),
        2,
        "names no Rekor v1 log (rekorTlogUrls, API version 1) valid now: give --rekor-url",
    );
    assert_eq!(snapshot(&lab.ws.layout()), before);
    let out = sign(&["--rekor-url", &lab.sigstore.url]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        verified_count(&lab.verify("verify", &BY_IDENTITY)),
        "4 of 4 signatures verified"
    );
}

/// The `.sig` layer without a certificate (the key-based one).
fn sig_layer_with_key(lab: &Lab) -> Descriptor {
    sig_manifest(lab)
        .1
        .layers
        .into_iter()
        .find(|l| !sigstore_annotations::has_certificate(l))
        .unwrap()
}

/// `sign`/`attest --key --tlog-upload` in both formats, with the services' Rekor.
fn logged_with_key(lab: &Lab, private: &Path, command: &str, extra: &[&str]) {
    for format in ["bundle", "legacy"] {
        let mut flags = vec![
            "--tlog-upload",
            "--format",
            format,
            "--rekor-url",
            &lab.sigstore.url,
        ];
        flags.extend(extra);
        let out = with_key(lab, private, command, &flags);
        assert!(out.status.success(), "{}", stderr(&out));
    }
}

/// `sign` (or `attest`) `--key PRIVATE` with `extra` flags, on the lab's model.
fn with_key(lab: &Lab, private: &Path, command: &str, extra: &[&str]) -> Output {
    let mut args = vec![command, "--key", private.to_str().unwrap()];
    args.extend(extra);
    let reference = lab.reference();
    args.push(&reference);
    run(&args)
}

/// `verify` (or `verify-attestation`) with the key and `extra` flags.
fn verify_key(lab: &Lab, public: &Path, command: &str, extra: &[&str]) -> Output {
    let mut args = vec![command, "--key", public.to_str().unwrap()];
    args.extend(extra);
    let reference = lab.reference();
    args.push(&reference);
    run(&args)
}

#[test]
fn a_key_signatures_log_entry_must_verify_against_the_trusted_root() {
    let lab = Lab::new();
    let (private, public) = keys(&lab.ws, "k");
    logged_with_key(&lab, &private, "sign", &[]);
    let predicate = lab.ws.path("predicate.json");
    std::fs::write(&predicate, r#"{"scanner":"x"}"#).unwrap();
    let predicate = predicate.display().to_string();
    logged_with_key(
        &lab,
        &private,
        "attest",
        &["--type", "custom", "--predicate", &predicate],
    );
    let layer = sig_layer_with_key(&lab);
    assert!(
        layer
            .annotation(sigstore_annotations::REKOR_BUNDLE)
            .is_some()
    );
    assert!(
        layer
            .annotation(sigstore_annotations::CERTIFICATE)
            .is_none()
    );
    let root = lab.sigstore.trusted_root.display().to_string();
    let with_root = ["--trusted-root", root.as_str()];

    // Against the root of the log they were written to, all verify, with the time the log
    // recorded them.
    let out = verify_key(&lab, &public, "verify", &with_root);
    assert!(out.status.success(), "{}", stdout(&out));
    assert_eq!(verified_count(&out), "2 of 2 signatures verified");
    assert_eq!(
        stdout(&out).matches(" (transparency log)").count(),
        2,
        "{}",
        stdout(&out)
    );
    let json = verify_key(
        &lab,
        &public,
        "verify",
        &["--trusted-root", &root, "--output", "json"],
    );
    let report: Value = serde_json::from_slice(&json.stdout).unwrap();
    for signature in report["signatures"].as_array().unwrap() {
        let logged = signature["logged"].as_str().unwrap();
        assert!(logged.parse::<jiff::Timestamp>().is_ok(), "{signature}");
    }
    // verify-bundle over the referrer's bundle alike.
    let report = stdout(&out);
    let referrer = report
        .split("bundle referrer ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .unwrap();
    let bundle = referrer_bundle(&lab, referrer).display().to_string();
    let subject = lab
        .store()
        .resolve(&Target::tag("v1"))
        .unwrap()
        .digest
        .to_string();
    let verify_bundle = |extra: &[&str]| {
        let mut args = vec!["verify-bundle", "--bundle", &bundle, "--key"];
        args.push(public.to_str().unwrap());
        args.extend(extra);
        args.push(&subject);
        run(&args)
    };
    assert!(verify_bundle(&with_root).status.success());
    assert_fails(&verify_bundle(&[]), 1, "does not verify");
    assert!(verify_bundle(&["--insecure-ignore-tlog"]).status.success());
    let out = verify_key(
        &lab,
        &public,
        "verify-attestation",
        &["--type", "custom", "--trusted-root", &root],
    );
    assert!(out.status.success(), "{}", stdout(&out));
    assert_eq!(verified_count(&out), "2 of 2 attestations verified");

    // Against the production root (the default) the entries do not verify: rejected, each
    // with the reason, though the key's signatures are sound.
    let reason = "transparency log entry does not verify against the public-good production root";
    let out = verify_key(&lab, &public, "verify", &[]);
    assert_fails(&out, 1, "no signature of");
    assert_eq!(stdout(&out).matches(reason).count(), 2, "{}", stdout(&out));
    let out = verify_key(&lab, &public, "verify-attestation", &["--type", "custom"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert_eq!(stdout(&out).matches(reason).count(), 2, "{}", stdout(&out));

    // A policy's key authority: the production root by default, or its trustedRoot.
    let policy = |trusted_root: &str| {
        let text = format!(
            "version: 1\npolicies:\n  - name: release\n    scopes: [\"**\"]\n    authorities:\n      - name: release-key\n        key: {{path: {}{trusted_root}}}\n    signatures: {{threshold: 1}}\n",
            public.display()
        );
        let path = write_policy(lab.ws.dir.path(), &text);
        run(&[
            "verify",
            "--policy",
            path.to_str().unwrap(),
            &lab.reference(),
        ])
    };
    let out = policy(&format!(", trustedRoot: {root}"));
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    // The trust flags have no say over a policy: given with one, they are a usage error.
    let text = "version: 1\npolicies: []\n";
    let path = write_policy(lab.ws.dir.path(), text);
    let out = run(&[
        "verify",
        "--policy",
        path.to_str().unwrap(),
        "--insecure-ignore-tlog",
        &lab.reference(),
    ]);
    assert_fails(
        &out,
        2,
        "a policy names its own authorities and trusted roots",
    );
    let out = policy("");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("rejected for release-key: ") && stdout(&out).contains(reason),
        "{}",
        stdout(&out)
    );

    // A trusted root the user names must load, whether or not any signature is logged.
    let missing = lab.ws.path("no-such-root.json");
    let out = verify_key(
        &lab,
        &public,
        "verify",
        &["--trusted-root", missing.to_str().unwrap()],
    );
    assert_fails(&out, 2, "no-such-root.json");

    // --insecure-ignore-tlog checks the key's signature alone, as cosign's flag does (and says
    // no log time); it is refused for keyless verification.
    let out = verify_key(&lab, &public, "verify", &["--insecure-ignore-tlog"]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert_eq!(verified_count(&out), "2 of 2 signatures verified");
    assert!(
        !stdout(&out).contains("transparency log"),
        "{}",
        stdout(&out)
    );
    let mut args = vec!["--insecure-ignore-tlog"];
    args.extend(BY_IDENTITY);
    let out = lab.verify("verify", &args);
    assert_fails(&out, 2, "applies to --key");

    // A legacy layer's entry altered, or another signature's: rejected with the root, and
    // still the key's own signature without the log.
    let original = sig_layer_with_key(&lab);
    let mut set =
        serde_json::from_str::<Value>(&annotation(&original, sigstore_annotations::REKOR_BUNDLE))
            .unwrap();
    let promise = set["SignedEntryTimestamp"].as_str().unwrap().to_string();
    set["SignedEntryTimestamp"] = if promise.starts_with('M') {
        promise.replacen('M', "N", 1)
    } else {
        format!("M{}", &promise[1..])
    }
    .into();
    // Entries the same key logged for other content: the attestation's (another kind of
    // entry) and a signature of another payload (the same kind).
    let attestation = {
        let store = lab.store();
        let subject = store.resolve(&Target::tag("v1")).unwrap();
        let tag = format!("sha256-{}.att", subject.digest.hex());
        let descriptor = store.resolve(&Target::tag(&tag)).unwrap();
        let manifest: ImageManifest =
            serde_json::from_slice(&store.fetch_manifest(&descriptor).unwrap()).unwrap();
        manifest.layers[0].clone()
    };
    let rekor = lab.sigstore.url.as_str();
    let flags = [
        "--tlog-upload",
        "--format",
        "legacy",
        "-a",
        "note=other",
        "--rekor-url",
        rekor,
    ];
    let out = with_key(&lab, &private, "sign", &flags);
    assert!(out.status.success(), "{}", stderr(&out));
    let other = sig_manifest(&lab).1.layers[1].clone();
    assert!(!sigstore_annotations::has_certificate(&other));
    let cases = [
        // A broken promise is the log's word failing: a matter of the trusted root.
        (set.to_string(), "name the trusted root"),
        // Entries for other content are not this signature's, whatever the root.
        (
            annotation(&attestation, sigstore_annotations::REKOR_BUNDLE),
            "is not this signature's (unsupported bundle: Rekor entry dsse/0.0.1 is incompatible with a message signature)",
        ),
        (
            annotation(&other, sigstore_annotations::REKOR_BUNDLE),
            "is not this signature's (artifact mismatch: artifact hash mismatch",
        ),
        ("{\"SignedEntryTimestamp\": 1}".to_string(), "not valid"),
    ];
    for (value, reason) in cases {
        tamper_sig_layer(&lab, |layer| {
            *layer = original.clone();
            layer
                .annotations
                .as_mut()
                .unwrap()
                .insert(sigstore_annotations::REKOR_BUNDLE.into(), value.clone());
        });
        let out = verify_key(&lab, &public, "verify", &with_root);
        let report = stdout(&out);
        assert!(
            report.contains("rejected") && report.contains(reason),
            "{reason}: {report}"
        );
        assert!(report.contains("1 of 2 signatures verified"), "{report}");
        let out = verify_key(&lab, &public, "verify", &["--insecure-ignore-tlog"]);
        assert!(
            stdout(&out).contains("2 of 2 signatures verified"),
            "{}",
            stdout(&out)
        );
    }
}

#[test]
fn a_key_signature_is_stamped_when_logged_and_service_flags_are_never_ignored() {
    let lab = Lab::new();
    let (private, public) = keys(&lab.ws, "k");
    let stamp = lab.sigstore.timestamp_url();
    let before = snapshot(&lab.ws.layout());
    let sign = |extra: &[&str]| {
        with_key(
            &lab,
            &private,
            "sign",
            &[&["--format", "legacy"], extra].concat(),
        )
    };
    // Flags this signing would not use are errors, and nothing is written.
    assert_fails(
        &sign(&["--timestamp-server-url", &stamp]),
        2,
        "add --tlog-upload",
    );
    assert_fails(
        &sign(&["--rekor-url", &lab.sigstore.url]),
        2,
        "add --tlog-upload",
    );
    let fulcio = ["--fulcio-url", lab.sigstore.url.as_str(), "--tlog-upload"];
    assert_fails(&sign(&fulcio), 2, "--fulcio-url applies to --keyless");
    assert_eq!(snapshot(&lab.ws.layout()), before);
    // Logged and stamped, the legacy layer carries both, as cosign writes them, and both verify.
    let out = sign(&[
        "--tlog-upload",
        "--rekor-url",
        &lab.sigstore.url,
        "--timestamp-server-url",
        &stamp,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let layer = sig_layer_with_key(&lab);
    assert!(layer.annotation(sigstore_annotations::TIMESTAMP).is_some());
    let root = lab.sigstore.trusted_root.display().to_string();
    let out = verify_key(&lab, &public, "verify", &["--trusted-root", &root]);
    assert!(out.status.success(), "{}", stdout(&out));
    // A stamp that is there must verify too.
    let original = layer.clone();
    tamper_sig_layer(&lab, |layer| {
        *layer = original.clone();
        layer.annotations.as_mut().unwrap().insert(
            sigstore_annotations::TIMESTAMP.into(),
            r#"{"SignedRFC3161Timestamp":"MAA="}"#.into(),
        );
    });
    let out = verify_key(&lab, &public, "verify", &["--trusted-root", &root]);
    assert_fails(&out, 1, "no signature of");
    assert!(
        stdout(&out).contains("its RFC 3161 timestamp does not verify against the trusted root"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn keyless_signing_without_a_token_or_over_plain_http_writes_nothing() {
    let lab = Lab::new();
    let before = snapshot(&lab.ws.layout());
    let mut args = vec!["sign".to_string(), "--keyless".into()];
    args.extend(lab.sigstore.flags());
    args.push(lab.reference());
    let out = modelseal()
        .args(&args)
        .env_remove("SIGSTORE_ID_TOKEN")
        .env_remove("ACTIONS_ID_TOKEN_REQUEST_URL")
        .output()
        .unwrap();
    assert_fails(&out, 2, "--identity-token");
    let secret = token(&github_claims("acme/models"));
    let out = modelseal()
        .args([
            "sign",
            "--keyless",
            "--fulcio-url",
            "http://fulcio.example.com",
            "--rekor-url",
            "http://rekor.example.com",
            &lab.reference(),
        ])
        .env("SIGSTORE_ID_TOKEN", &secret)
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    assert_fails(&out, 2, "HTTPS");
    assert!(!stderr(&out).contains(&secret) && !stdout(&out).contains(&secret));
    // A token Fulcio refuses: the error, and the token never shown.
    let out = modelseal()
        .args(["sign", "--keyless", "--identity-token", "a.b.c"])
        .args(lab.sigstore.flags())
        .arg(lab.reference())
        .output()
        .unwrap();
    assert_fails(&out, 2, "not base64url");
    assert_eq!(before, snapshot(&lab.ws.layout()));
    // SIGSTORE_ID_TOKEN is read when no flag is given; the token appears nowhere.
    let out = modelseal()
        .args(&args)
        .env("SIGSTORE_ID_TOKEN", &secret)
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains(&secret) && !stdout(&out).contains(&secret));
}

fn write_policy(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("policy.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_policy_admits_by_a_keyless_identity() {
    let lab = Lab::new();
    lab.signed(&[]);
    let root = lab.sigstore.trusted_root.display().to_string();
    let policy = |subject: &str, repository: &str| {
        format!(
            "version: 1\npolicies:\n  - name: release\n    scopes: [\"**\"]\n    authorities:\n      - name: ci\n        keyless:\n          issuer: {ISSUER}\n          {subject}\n          trustedRoot: {root}\n          extensions: {{githubWorkflowRepository: {repository}}}\n    signatures: {{threshold: 1}}\n"
        )
    };
    let decide = |text: &str| {
        let path = write_policy(lab.ws.dir.path(), text);
        run(&[
            "verify",
            "--policy",
            path.to_str().unwrap(),
            &lab.reference(),
        ])
    };
    let exact = format!("subject: {IDENTITY}");
    let anchored = "subjectRegExp: \"https://github.com/acme/.*\"";
    for admitted in [
        policy(&exact, "acme/models"),
        policy(anchored, "acme/models"),
    ] {
        let out = decide(&admitted);
        assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    }
    let partial = "subjectRegExp: \"https://github.com/acme\"";
    let rejections = [
        (
            policy(&exact, "acme/other"),
            "GitHub workflow repository is \"acme/models\"",
        ),
        (
            policy(partial, "acme/models"),
            "identity is https://github.com/acme/models",
        ),
    ];
    for (rejected, reason) in rejections {
        let out = decide(&rejected);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        // The report says why the signature does not count.
        assert!(
            stdout(&out).contains("rejected for ci: "),
            "{}",
            stdout(&out)
        );
        assert!(stdout(&out).contains(reason), "{}", stdout(&out));
    }
    // An unknown claim name is a policy error.
    let unknown = policy(&exact, "acme/models").replace("githubWorkflowRepository", "colour");
    assert_fails(&decide(&unknown), 2, "unknown extension");
}

#[test]
fn the_token_comes_from_github_actions_when_asked_there() {
    let ws = Workspace::new();
    ws.pack("v1");
    let jwt = token(&github_claims("acme/models"));
    let sigstore = Sigstore::start(
        &ws.path("sigstore"),
        &[
            ("MOCK_GITHUB_TOKEN", &jwt),
            ("MOCK_GITHUB_REQUEST_TOKEN", "request-secret"),
        ],
    );
    let sign = |request_token: &str| {
        modelseal()
            .args(["sign", "--keyless"])
            .args(sigstore.flags())
            .arg(ws.layout_ref("v1"))
            .env_remove("SIGSTORE_ID_TOKEN")
            .env(
                "ACTIONS_ID_TOKEN_REQUEST_URL",
                format!("{}/github/token?api-version=2.0", sigstore.url),
            )
            .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", request_token)
            .output()
            .unwrap()
    };
    let out = sign("wrong");
    assert_fails(&out, 2, "401");
    assert!(!stderr(&out).contains("wrong"), "{}", stderr(&out));
    let out = sign("request-secret");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains(&jwt) && !stderr(&out).contains("request-secret"));
    let out = modelseal()
        .args(["verify", "--trusted-root"])
        .arg(&sigstore.trusted_root)
        .args(BY_IDENTITY)
        .arg(ws.layout_ref("v1"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stdout(&out));
}

#[test]
fn scans_and_provenance_attest_keylessly() {
    let lab = Lab::new();
    let reference = lab.reference();
    let out = run(&["scan", &reference, "--attest"]);
    assert_fails(&out, 2, "give --key KEY or --keyless");
    let token = lab.token.display().to_string();
    let mut keyless = vec!["--attest", "--keyless", "--identity-token", &token];
    let flags = lab.sigstore.flags();
    keyless.extend(flags.iter().map(String::as_str));
    let mut scan = vec!["scan", &reference];
    scan.extend(&keyless);
    ok(&scan);
    let mut provenance = vec![
        "provenance",
        &reference,
        "--builder-id",
        "https://ci.example.com/runner",
    ];
    provenance.extend(&keyless);
    ok(&provenance);
    for kind in ["scan", "slsaprovenance1"] {
        let mut args = vec!["--type", kind];
        args.extend(BY_IDENTITY);
        let out = lab.verify("verify-attestation", &args);
        assert!(out.status.success(), "{kind}: {}", stdout(&out));
        assert_eq!(verified_count(&out), "1 of 1 attestations verified");
    }
}

/// The bundle blob of the referrer `digest` in the layout.
fn referrer_bundle(lab: &Lab, digest: &str) -> PathBuf {
    let store = lab.store();
    let referrer: modelseal::oci::Digest = digest.trim().parse().unwrap();
    let descriptor = store.resolve(&Target::digest(referrer)).unwrap();
    let manifest: ImageManifest =
        serde_json::from_slice(&store.fetch_manifest(&descriptor).unwrap()).unwrap();
    blob_path(&lab.ws, &manifest.layers[0])
}

#[test]
fn sigstore_python_verifies_a_keyless_attestation_offline() {
    let lab = Lab::new();
    let predicate = lab.ws.path("predicate.json");
    std::fs::write(&predicate, r#"{"scanner":"x"}"#).unwrap();
    let out = lab.keyless(
        "attest",
        &[
            "--type",
            "custom",
            "--predicate",
            predicate.to_str().unwrap(),
            "--timestamp-server-url",
            &lab.sigstore.timestamp_url(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let bundle = referrer_bundle(&lab, &stdout(&out));
    // sigstore-python takes a custom root inside a client trust configuration.
    let root: Value =
        serde_json::from_slice(&std::fs::read(&lab.sigstore.trusted_root).unwrap()).unwrap();
    let service = json!([{"url": lab.sigstore.url, "majorApiVersion": 1, "validFor": {"start": "2020-01-01T00:00:00Z"}, "operator": "test"}]);
    let config = lab.ws.path("trust-config.json");
    std::fs::write(
        &config,
        json!({
            "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
            "trustedRoot": root,
            "signingConfig": {
                "mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
                "caUrls": service, "oidcUrls": service, "rekorTlogUrls": service,
                "rekorTlogConfig": {"selector": "ANY"}, "tsaUrls": service,
                "tsaConfig": {"selector": "ANY"},
            },
        })
        .to_string(),
    )
    .unwrap();
    let subject = lab
        .store()
        .resolve(&Target::tag("v1"))
        .unwrap()
        .digest
        .to_string();
    let verify = |issuer: &str| {
        std::process::Command::new("sigstore")
            .arg("--trust-config")
            .arg(&config)
            .args(["verify", "identity", "--offline", "--bundle"])
            .arg(&bundle)
            .args([
                "--cert-identity",
                IDENTITY,
                "--cert-oidc-issuer",
                issuer,
                &subject,
            ])
            .output()
            .expect("sigstore-python (PyPI sigstore 4.5.1) is required; .ci/run installs it")
    };
    let out = verify(ISSUER);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains(r#""predicateType":"https://cosign.sigstore.dev/attestation/v1""#)
    );
    assert!(!verify("https://accounts.google.com").status.success());
}

#[test]
fn a_trusted_root_the_user_did_not_give_is_never_used() {
    let lab = Lab::new();
    lab.signed(&[]);
    // The services' root sits beside the artifact, in the working folder and where other
    // Sigstore clients look (SIGSTORE_ROOT_FILE, TUF_ROOT): none of it is read.
    let root = std::fs::read(&lab.sigstore.trusted_root).unwrap();
    std::fs::write(lab.ws.layout().join("trusted_root.json"), &root).unwrap();
    std::fs::write(lab.ws.path("trusted_root.json"), &root).unwrap();
    let out = modelseal()
        .current_dir(lab.ws.dir.path())
        .args(["verify"])
        .args(BY_IDENTITY)
        .arg(lab.reference())
        .env("SIGSTORE_ROOT_FILE", &lab.sigstore.trusted_root)
        .env("TUF_ROOT", lab.ws.dir.path())
        .output()
        .unwrap();
    assert_fails(&out, 1, "no signature of");
    assert!(
        stdout(&out).contains("No log key valid"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_policy_requires_a_keyless_scan_attestation_judged_by_rules() {
    let lab = Lab::new();
    let reference = lab.reference();
    let token = lab.token.display().to_string();
    let mut scan = vec![
        "scan",
        &reference,
        "--attest",
        "--keyless",
        "--identity-token",
        &token,
    ];
    let flags = lab.sigstore.flags();
    scan.extend(flags.iter().map(String::as_str));
    ok(&scan);
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/rules/scan.rego");
    let root = lab.sigstore.trusted_root.display().to_string();
    let policy = |issuer: &str| {
        format!(
            "version: 1\npolicies:\n  - name: scanned\n    scopes: [\"**\"]\n    authorities:\n      - name: ci\n        keyless: {{issuer: \"{issuer}\", subject: \"{IDENTITY}\", trustedRoot: \"{root}\"}}\n    attestations:\n      - type: scan\n        authorities: [ci]\n        maxAge: 1d\n        rules: [\"{}\"]\n",
            rules.display()
        )
    };
    let decide = |text: &str| {
        let path = write_policy(lab.ws.dir.path(), text);
        run(&["verify", "--policy", path.to_str().unwrap(), &reference])
    };
    let out = decide(&policy(ISSUER));
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    // The evidence says when the log recorded the attestation.
    let path = write_policy(lab.ws.dir.path(), &policy(ISSUER));
    let json = run(&[
        "verify",
        "--policy",
        path.to_str().unwrap(),
        "--output",
        "json",
        &reference,
    ]);
    let decision: Value = serde_json::from_slice(&json.stdout).unwrap();
    let evidence = &decision["requirements"][0]["evidence"][0];
    assert!(
        evidence["logged"]
            .as_str()
            .is_some_and(|t| t.parse::<jiff::Timestamp>().is_ok()),
        "{decision}"
    );
    // The same attestation, required of the same subject from another issuer: not evidence.
    let out = decide(&policy("https://accounts.google.com"));
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let printed = said(&out);
    assert!(
        printed.contains(
            "issuer is https://token.actions.githubusercontent.com, not https://accounts.google.com"
        ),
        "{printed}"
    );
}

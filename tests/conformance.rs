//! The Sigstore conformance suite's bundle-verification cases, driven through `verify-bundle`
//! exactly as the suite's client protocol says: per case the artifact (or `a.txt`), the
//! identity and issuer (or the suite's defaults), a `key.pub` instead when present, and the
//! case's `trusted_root.json` or else the production root. A case ending in `_fail` must be
//! rejected (any non-zero exit), every other must verify (exit 0).

mod common;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::*;

const IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const ISSUER: &str = "https://token.actions.githubusercontent.com";

/// Where the suite's cases are: beside the repository, or in `CONFORMANCE_DIR`.
fn suite() -> PathBuf {
    std::env::var_os("CONFORMANCE_DIR")
        .map(Into::into)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/conformance"))
}

/// `verify-bundle --bundle <bundle> <args…> <subject>`, run to completion.
fn verify_bundle(
    bundle: &Path,
    args: impl IntoIterator<Item = impl AsRef<OsStr>>,
    subject: impl AsRef<OsStr>,
) -> Output {
    modelseal()
        .arg("verify-bundle")
        .arg("--bundle")
        .arg(bundle)
        .args(args)
        .arg(subject)
        .output()
        .unwrap()
}

/// The suite's default identity and issuer, as flags.
const KEYLESS: [&str; 4] = [
    "--certificate-identity",
    IDENTITY,
    "--certificate-oidc-issuer",
    ISSUER,
];

/// The bundle and artifact (`a.txt`) of the suite's happy path.
fn happy_path(root: &Path) -> (PathBuf, PathBuf) {
    (
        root.join("bundle-verify/happy-path-v0.3/bundle.sigstore.json"),
        root.join("a.txt"),
    )
}

fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

#[test]
fn every_conformance_case_gives_its_expected_outcome() {
    let root = suite();
    let cases = root.join("bundle-verify");
    let mut outcomes = Vec::new();
    for entry in std::fs::read_dir(&cases).unwrap_or_else(|e| panic!("{}: {e}", cases.display())) {
        let dir = entry.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let artifact = if dir.join("artifact").exists() {
            dir.join("artifact")
        } else {
            root.join("a.txt")
        };
        let mut command = modelseal();
        command
            .arg("verify-bundle")
            .arg("--bundle")
            .arg(dir.join("bundle.sigstore.json"));
        if dir.join("key.pub").exists() {
            command.arg("--key").arg(dir.join("key.pub"));
        } else {
            command
                .args([
                    "--certificate-identity",
                    &read(&dir.join("identity")).unwrap_or(IDENTITY.into()),
                ])
                .args([
                    "--certificate-oidc-issuer",
                    &read(&dir.join("issuer")).unwrap_or(ISSUER.into()),
                ]);
        }
        if dir.join("trusted_root.json").exists() {
            command
                .arg("--trusted-root")
                .arg(dir.join("trusted_root.json"));
        }
        let out = command.arg(&artifact).output().unwrap();
        let expected = !name.ends_with("_fail");
        let verified = out.status.success();
        assert!(
            out.status.code().is_some() && !stderr(&out).contains("panicked"),
            "{name}: {}",
            stderr(&out)
        );
        outcomes.push((name, expected == verified, stderr(&out)));
    }
    let wrong: Vec<String> = outcomes
        .iter()
        .filter(|(_, right, _)| !right)
        .map(|(name, _, err)| format!("{name}: {err}"))
        .collect();
    println!(
        "{} of {} cases as expected",
        outcomes.len() - wrong.len(),
        outcomes.len()
    );
    assert_eq!(outcomes.len(), 70);
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn identity_regexps_are_anchored_and_issuers_must_match() {
    let root = suite();
    let (bundle, artifact) = happy_path(&root);
    let run_with = |args: &[&str]| verify_bundle(&bundle, args, &artifact);
    // A pattern that matches only a substring of the identity does not match it.
    let out = run_with(&[
        "--certificate-identity-regexp",
        "extremely-dangerous",
        "--certificate-oidc-issuer",
        ISSUER,
    ]);
    assert_fails(&out, 1, "identity");
    let out = run_with(&[
        "--certificate-identity-regexp",
        ".*extremely-dangerous.*",
        "--certificate-oidc-issuer",
        ISSUER,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    // The right identity from the wrong issuer.
    let out = run_with(&[
        "--certificate-identity",
        IDENTITY,
        "--certificate-oidc-issuer",
        "https://accounts.google.com",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    // The same bundle against the staging root: not trusted.
    let out = run_with(&[
        "--staging",
        "--certificate-identity",
        IDENTITY,
        "--certificate-oidc-issuer",
        ISSUER,
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    // A digest instead of the file.
    let digest = modelseal::oci::Digest::sha256_of(&std::fs::read(&artifact).unwrap());
    let out = verify_bundle(&bundle, KEYLESS, digest.to_string());
    assert!(out.status.success(), "{}", stderr(&out));
}

/// The bad inputs the keyless issue names, each rejected (exit 1) with its reason.
#[test]
fn named_bad_inputs_are_rejected_with_their_reason() {
    let root = suite();
    for (case, reason) in [
        ("intoto-expired-certificate_fail", "certificate"),
        (
            "intoto-set-outside-signing-cert-validity_fail",
            "certificate",
        ),
        ("wrong-hashedrekord-entry_fail", "mismatch"),
        ("set-invalid-signature_fail", "SET verification failed"),
        ("bundle-from-wrong-instance_fail", "log"),
        ("invalid-ct-key_fail", "signed certificate timestamp"),
    ] {
        let dir = root.join("bundle-verify").join(case);
        let artifact = if dir.join("artifact").exists() {
            dir.join("artifact")
        } else {
            root.join("a.txt")
        };
        let mut args: Vec<&OsStr> = KEYLESS.iter().map(OsStr::new).collect();
        let trusted_root = dir.join("trusted_root.json");
        if trusted_root.exists() {
            args.extend([OsStr::new("--trusted-root"), trusted_root.as_os_str()]);
        }
        let out = verify_bundle(&dir.join("bundle.sigstore.json"), args, &artifact);
        assert_fails(&out, 1, reason);
    }
    // A production bundle against the staging root: its chain leads to an untrusted root.
    let (bundle, artifact) = happy_path(&root);
    let staging = std::iter::once("--staging").chain(KEYLESS);
    let out = verify_bundle(&bundle, staging, &artifact);
    assert_fails(&out, 1, "does not verify");
}

/// A `trusted_root.json` given as a file, under the media type of v0.1 and of v0.2.
#[test]
fn trusted_roots_load_from_files_of_both_media_types() {
    let root = suite();
    let original: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("production_trusted_root.json")).unwrap())
            .unwrap();
    let (bundle, artifact) = happy_path(&root);
    let with_root = |file: &Path| {
        let mut args: Vec<std::ffi::OsString> = KEYLESS.iter().map(Into::into).collect();
        args.extend(["--trusted-root".into(), file.into()]);
        args
    };
    let ws = Workspace::new();
    for media_type in [
        "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
        "application/vnd.dev.sigstore.trustedroot.v0.2+json",
    ] {
        let mut trusted = original.clone();
        trusted["mediaType"] = serde_json::Value::from(media_type);
        let file = ws.path("trusted_root.json");
        std::fs::write(&file, trusted.to_string()).unwrap();
        let out = verify_bundle(&bundle, with_root(&file), &artifact);
        assert!(out.status.success(), "{media_type}: {}", stderr(&out));
    }
    // A file that is not a trusted root is an error, not a verification.
    let file = ws.path("not-a-root.json");
    std::fs::write(&file, "{}").unwrap();
    let out = verify_bundle(&bundle, with_root(&file), &artifact);
    assert_fails(&out, 2, "the trusted root does not load");
}

#[test]
fn a_pattern_that_does_not_compile_is_named_not_taken_for_a_missing_flag() {
    let (bundle, artifact) = happy_path(&suite());
    for flags in [
        [
            "--certificate-identity-regexp",
            "(unclosed",
            "--certificate-oidc-issuer",
            ISSUER,
        ],
        [
            "--certificate-identity",
            IDENTITY,
            "--certificate-oidc-issuer-regexp",
            "[z-a]",
        ],
    ] {
        let out = verify_bundle(&bundle, flags, &artifact);
        assert_fails(&out, 2, "is not a regular expression");
    }
    let out = verify_bundle(&bundle, ["--certificate-oidc-issuer", ISSUER], &artifact);
    assert_fails(&out, 2, "--certificate-identity");
}

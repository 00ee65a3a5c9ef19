//! Every size limit on what modelseal reads from users, at the limit (accepted, or refused for
//! another reason) and one past it (refused, naming the limit), and the most referrers one
//! subject may have. The limits are listed in SECURITY.md.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::*;
use modelseal::oci::{
    Descriptor, Digest, LayoutStore, MEDIA_TYPE_IMAGE_MANIFEST, ManifestPush, Store, TagCondition,
};
use modelseal::reference::Target;
use modelseal::signature::bundle;

/// `text` padded with spaces to exactly `size` bytes (JSON and YAML ignore trailing spaces).
fn padded(path: &Path, text: &str, size: u64) -> PathBuf {
    let size = usize::try_from(size).unwrap();
    assert!(text.len() <= size);
    let mut bytes = text.as_bytes().to_vec();
    bytes.resize(size, b' ');
    std::fs::write(path, bytes).unwrap();
    path.to_path_buf()
}

/// At `limit` bytes the file is read (whatever happens next, it is not refused for its size);
/// at `limit + 1` it is refused for its size, with exit 2.
fn at_and_past(name: &str, limit: u64, run: impl Fn(u64) -> Output, too_large: &str) {
    let at = run(limit);
    assert!(
        !said(&at).contains(too_large),
        "{name} at its limit: {}",
        said(&at)
    );
    let past = run(limit + 1);
    assert_eq!(
        past.status.code(),
        Some(2),
        "{name} past its limit: {}",
        said(&past)
    );
    assert!(
        said(&past).contains(too_large),
        "{name} past its limit: {}",
        said(&past)
    );
}

#[test]
fn file_limits_hold_at_the_limit_and_refuse_past_it() {
    let ws = Workspace::new();
    ws.pack("v1");
    let layout = ws.layout_ref("v1");
    let (key, _) = keys(&ws, "k");

    let policy = "version: 1\npolicies:\n  - name: p\n    scopes: [\"**\"]\n    modelpack: {families: [cncf]}\n";
    at_and_past(
        "a policy file",
        modelseal::policy::MAX_POLICY_BYTES,
        |size| {
            let path = padded(&ws.path("policy.yaml"), policy, size);
            run(&["policy", "lint", path.to_str().unwrap()])
        },
        &format!("larger than {} bytes", modelseal::policy::MAX_POLICY_BYTES),
    );
    let out = run(&["policy", "lint", ws.path("policy.yaml").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    at_and_past(
        "a predicate",
        modelseal::attest::predicate::MAX_PREDICATE_BYTES,
        |size| {
            let path = padded(&ws.path("predicate.json"), r#"{"a":1}"#, size);
            let key = key.to_str().unwrap();
            let predicate = path.to_str().unwrap();
            run(&[
                "attest",
                "--key",
                key,
                "--type",
                "custom",
                "--predicate",
                predicate,
                &layout,
            ])
        },
        &format!(
            "larger than {} bytes",
            modelseal::attest::predicate::MAX_PREDICATE_BYTES
        ),
    );
    let conformance = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/conformance");
    let happy = conformance.join("bundle-verify/happy-path-v0.3/bundle.sigstore.json");
    let artifact = conformance.join("a.txt");
    let verify_bundle = |bundle: &Path, root: &Path| {
        modelseal()
            .args(["verify-bundle", "--bundle"])
            .arg(bundle)
            .arg("--trusted-root")
            .arg(root)
            .args([
                "--certificate-identity-regexp",
                ".*",
                "--certificate-oidc-issuer-regexp",
                ".*",
            ])
            .arg(&artifact)
            .output()
            .unwrap()
    };
    let root_text =
        std::fs::read_to_string(conformance.join("production_trusted_root.json")).unwrap();
    let limit = modelseal::sigstore::trust::MAX_TRUSTED_ROOT_BYTES;
    at_and_past(
        "a trusted root",
        limit,
        |size| verify_bundle(&happy, &padded(&ws.path("root.json"), &root_text, size)),
        &format!("larger than {limit} bytes"),
    );
    // At its limit the padded root still verifies the bundle: it was read whole.
    let root = padded(&ws.path("root.json"), &root_text, limit);
    assert!(verify_bundle(&happy, &root).status.success());
    let bundle_text = std::fs::read_to_string(&happy).unwrap();
    let limit = modelseal::sigstore::blob::MAX_BUNDLE_BYTES;
    at_and_past(
        "a bundle",
        limit,
        |size| verify_bundle(&padded(&ws.path("bundle.json"), &bundle_text, size), &root),
        &format!("larger than {limit} bytes"),
    );
    let limit = modelseal::keys::MAX_KEY_FILE_BYTES as u64;
    let key_text = std::fs::read_to_string(&key).unwrap();
    at_and_past(
        "a key file",
        limit,
        |size| {
            let path = ws.path("padded.key");
            write_private(&path, {
                let mut b = key_text.clone().into_bytes();
                b.resize(usize::try_from(size).unwrap(), b'\n');
                b
            });
            run(&["public-key", "--key", path.to_str().unwrap()])
        },
        &format!("larger than {limit} bytes"),
    );
    let limit = 64 << 10;
    at_and_past(
        "an identity token file",
        limit,
        |size| {
            let path = padded(&ws.path("token"), "a.b.c", size);
            run(&[
                "sign",
                "--keyless",
                "--identity-token",
                path.to_str().unwrap(),
                &layout,
            ])
        },
        &format!("larger than {limit} bytes"),
    );
}

/// Lists referrers number `numbers` of `subject` in the layout, each a bundle referrer whose
/// bundle blob is absent (so none verifies).
fn add_referrers(store: &LayoutStore, subject: &Descriptor, numbers: std::ops::Range<usize>) {
    for i in numbers {
        let layer = Descriptor::new(bundle::MEDIA_TYPE, Digest::sha256_of(&i.to_le_bytes()), 1);
        let manifest = bundle::referrer_manifest(
            subject,
            layer,
            "https://sigstore.dev/cosign/sign/v1",
            &format!("2026-01-01T00:00:{:02}Z{i}", i % 60),
        );
        let bytes = serde_json::to_vec(&manifest).unwrap();
        store
            .push_manifest(ManifestPush {
                bytes: &bytes,
                media_type: MEDIA_TYPE_IMAGE_MANIFEST,
                artifact_type: Some(bundle::MEDIA_TYPE),
                tag: None,
                condition: TagCondition::Always,
            })
            .unwrap();
    }
}

#[test]
fn a_subject_with_more_referrers_than_are_read_is_an_error() {
    let ws = Workspace::new();
    ws.pack("v1");
    let layout = ws.layout_ref("v1");
    let (_, public) = keys(&ws, "k");
    let store = LayoutStore::open(&ws.layout()).unwrap();
    let subject = store.resolve(&Target::tag("v1")).unwrap();
    let limit = modelseal::oci::limits::MAX_REFERRERS;
    add_referrers(&store, &subject, 0..limit);
    let verify = || run(&["verify", "--key", public.to_str().unwrap(), &layout]);
    let out = verify();
    assert_fails(&out, 1, "no signature of");
    assert!(stdout(&out).contains(&format!("0 of {limit} signatures verified")));
    add_referrers(&store, &subject, limit..limit + 1);
    let out = verify();
    assert!(
        stderr(&out).contains(&format!(
            "the referrers of {}: {}, over the limit of {limit}",
            subject.digest,
            limit + 1
        )),
        "{}",
        stderr(&out)
    );
    assert_ne!(out.status.code(), Some(0));
}

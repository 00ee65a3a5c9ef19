//! A Sigstore bundle attached to a ModelPack by sigstore-js's `@sigstore/oci` (npm, the
//! library GitHub's attestation action uses) is discovered by `modelseal tree` and verified by
//! `modelseal verify`. `.ci/run` installs the package into `target/npm-interop`.

mod common;

use std::path::Path;
use std::process::Command;

use common::registry::Registry;
use common::*;
use serde_json::Value;

const NODE_MODULES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/target/npm-interop/node_modules"
);

const ATTACH: &str = r#"
const fs = require('fs');
const { attachArtifactToImage } = require('@sigstore/oci');
const [imageName, imageDigest, bundlePath, username, password] = process.argv.slice(1);
attachArtifactToImage({
  imageName,
  imageDigest,
  artifact: fs.readFileSync(bundlePath),
  mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
  annotations: { 'dev.sigstore.bundle.content': 'dsse-envelope' },
  credentials: { username, password },
}).then(
  (descriptor) => console.log(descriptor.digest),
  (error) => { console.error(error); process.exit(1); },
);
"#;

/// The bundle blob of the one bundle referrer of the layout artifact `v1`.
fn bundle_of(ws: &Workspace) -> Vec<u8> {
    let tree: Value =
        serde_json::from_str(&ok(&["tree", &ws.layout_ref("v1"), "--output", "json"])).unwrap();
    let referrer = tree["referrers"][0]["digest"].as_str().unwrap();
    let blob = |digest: &str| {
        std::fs::read(
            ws.layout()
                .join("blobs/sha256")
                .join(digest.trim_start_matches("sha256:")),
        )
        .unwrap()
    };
    let manifest: Value = serde_json::from_slice(&blob(referrer)).unwrap();
    blob(manifest["layers"][0]["digest"].as_str().unwrap())
}

#[test]
fn a_bundle_attached_by_sigstore_oci_is_found_and_verified() {
    assert!(
        Path::new(NODE_MODULES).join("@sigstore/oci").exists(),
        "@sigstore/oci is required: .ci/run installs it (npm install --prefix target/npm-interop @sigstore/oci@0.6.0 promise-retry@2)"
    );
    let registry = Registry::start_with_password("alice", "s3cret");
    let ws = Workspace::new();
    let docker = ws.path("docker");
    registry.docker_config(&docker, "alice", "s3cret");
    let with_credentials = |args: &[&str]| {
        let out = modelseal()
            .args(args)
            .env("DOCKER_CONFIG", &docker)
            .env("COSIGN_PASSWORD", "pw")
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        stdout(&out)
    };

    // The signature is made in a layout; the same files pack to the same digest anywhere.
    let digest = ws.pack("v1");
    let (key, public) = keys(&ws, "signer");
    ok(&["sign", "--key", key.to_str().unwrap(), &ws.layout_ref("v1")]);
    let bundle = ws.path("bundle.json");
    std::fs::write(&bundle, bundle_of(&ws)).unwrap();
    let reference = format!("{}:v1", registry.reference("models/tiny"));
    let pushed = with_credentials(&["pack", ws.model().to_str().unwrap(), &reference]);
    assert!(pushed.trim().ends_with(&digest), "{pushed}");

    let attached = Command::new("node")
        .arg("-e")
        .arg(ATTACH)
        .arg("--")
        .arg(registry.reference("models/tiny"))
        .arg(&digest)
        .arg(&bundle)
        .args(["alice", "s3cret"])
        .env("NODE_PATH", NODE_MODULES)
        .output()
        .expect("node is required");
    assert!(attached.status.success(), "{}", stderr(&attached));
    let referrer = stdout(&attached).trim().to_string();

    let tree: Value =
        serde_json::from_str(&with_credentials(&["tree", &reference, "--output", "json"])).unwrap();
    assert_eq!(tree["referrers"][0]["digest"], referrer, "{tree}");
    assert_eq!(
        tree["referrers"][0]["artifactType"],
        "application/vnd.dev.sigstore.bundle.v0.3+json"
    );
    let report = with_credentials(&["verify", "--key", public.to_str().unwrap(), &reference]);
    assert!(report.contains("1 of 1 signatures verified"), "{report}");
}

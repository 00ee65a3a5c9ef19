//! A ModelPack pushed by an independent client (PyPI `modelpack-client`) is read, signed and
//! verified by modelseal on a real registry. `.ci/run` installs the client.

mod common;

use std::process::Command;

use common::registry::Registry;
use common::*;
use modelseal::oci::Digest;

#[test]
fn signs_and_verifies_a_modelpack_pushed_by_modelpack_client() {
    let registry = Registry::start();
    let ws = Workspace::new();
    let weights = ws.model().join("model.safetensors");
    let diff_id = Digest::sha256_of(&std::fs::read(&weights).unwrap());
    let config = ws.path("config.json");
    std::fs::write(
        &config,
        format!(
            r#"{{"descriptor":{{"name":"indie"}},"config":{{"format":"safetensors"}},"modelfs":{{"type":"layers","diffIds":["{diff_id}"]}}}}"#
        ),
    )
    .unwrap();
    let reference = format!("{}:1", registry.reference("indie/tiny"));
    let pushed = Command::new("modelpack")
        .args(["--insecure", "push", &reference, "--config"])
        .arg(&config)
        .arg("--layer")
        .arg(format!(
            "{}:application/vnd.cncf.model.weight.v1.raw",
            weights.display()
        ))
        .current_dir(ws.model())
        .output()
        .expect("modelpack (PyPI modelpack-client) is required; .ci/run installs it");
    assert!(pushed.status.success(), "{}", stderr(&pushed));

    let out = modelseal()
        .args(["inspect", &reference, "--output", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["family"], "cncf");
    assert_eq!(json["layers"][0]["digest"], diff_id.to_string());

    let keys = generate_key_pair(&ws.path("k"), "ecdsa-p256", "pw");
    assert!(keys.status.success());
    for format in ["bundle", "legacy"] {
        let out = modelseal()
            .args(["sign", "--format", format, "--key"])
            .arg(ws.path("k.key"))
            .arg(&reference)
            .env("COSIGN_PASSWORD", "pw")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let out = modelseal()
        .args(["verify", "--key"])
        .arg(ws.path("k.pub"))
        .arg(&reference)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("2 of 2 signatures verified"));

    // The client still pulls it: what modelseal attached does not get in the way.
    let pulled = Command::new("modelpack")
        .args(["--insecure", "pull", &reference])
        .arg(ws.path("pulled"))
        .output()
        .unwrap();
    assert!(pulled.status.success(), "{}", stderr(&pulled));
    let extracted = std::fs::read(ws.path("pulled").join("model.safetensors")).unwrap();
    assert_eq!(Digest::sha256_of(&extracted), diff_id);
}

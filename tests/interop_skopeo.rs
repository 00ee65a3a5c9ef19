//! Layouts written by modelseal read by skopeo, and layouts written by skopeo read by
//! modelseal. skopeo is a required test tool: `.ci/run` installs it.

mod common;

use std::process::Command;

use common::*;

fn skopeo(args: &[&str]) -> std::process::Output {
    Command::new("skopeo")
        .args(args)
        .output()
        .expect("skopeo is required for this test: apt-get install skopeo (.ci/run installs it)")
}

#[test]
fn skopeo_reads_our_layout_and_we_read_skopeos() {
    let ws = Workspace::new();
    let digest = ws.pack("v1");
    let ours = ws.layout_ref("v1");
    let raw = skopeo(&["inspect", "--raw", &ours]);
    assert!(raw.status.success(), "{}", stderr(&raw));
    let manifest_path = ws
        .layout()
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"));
    assert_eq!(
        raw.stdout,
        std::fs::read(manifest_path).unwrap(),
        "skopeo returns our exact bytes"
    );

    let theirs = format!("oci:{}:copied", ws.path("skopeo-layout").display());
    let copy = skopeo(&["copy", "--quiet", &ours, &theirs]);
    assert!(copy.status.success(), "{}", stderr(&copy));
    let out = modelseal()
        .args(["inspect", &theirs, "--output", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["digest"], digest);
    assert_eq!(json["family"], "cncf");
    assert_eq!(json["layers"].as_array().unwrap().len(), 6);
}

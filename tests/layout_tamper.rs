//! A layout whose content was damaged or crafted is rejected with a clear reason, and reading it
//! changes nothing.

mod common;

use std::fs;
use std::path::Path;

use common::*;
use modelseal::oci::{
    Descriptor, Digest, ImageManifest, LayoutStore, MEDIA_TYPE_IMAGE_MANIFEST, ManifestPush, Store,
    TagCondition,
};
use serde_json::Value;

fn blob_path(layout: &Path, digest: &str) -> std::path::PathBuf {
    let (alg, hex) = digest.split_once(':').unwrap();
    layout.join("blobs").join(alg).join(hex)
}

fn manifest_of(ws: &Workspace, digest: &str) -> ImageManifest {
    serde_json::from_slice(&fs::read(blob_path(&ws.layout(), digest)).unwrap()).unwrap()
}

/// Stores `manifest` (after `edit`) under `tag` and returns its reference.
fn push_crafted(ws: &Workspace, manifest: &ImageManifest, tag: &str) -> String {
    let store = LayoutStore::open(&ws.layout()).unwrap();
    let bytes = serde_json::to_vec(manifest).unwrap();
    store
        .push_manifest(ManifestPush {
            bytes: &bytes,
            media_type: MEDIA_TYPE_IMAGE_MANIFEST,
            artifact_type: None,
            tag: Some(tag),
            condition: TagCondition::Always,
        })
        .unwrap();
    ws.layout_ref(tag)
}

fn inspect(reference: &str) -> std::process::Output {
    modelseal().args(["inspect", reference]).output().unwrap()
}

#[test]
fn a_blob_whose_content_does_not_match_its_name_is_rejected() {
    let ws = Workspace::new();
    let digest = ws.pack("v1");
    let manifest = manifest_of(&ws, &digest);
    // The config blob altered on disk.
    let config_path = blob_path(&ws.layout(), &manifest.config.digest.to_string());
    let original = fs::read(&config_path).unwrap();
    let mut altered = original.clone();
    altered[10] ^= 1;
    fs::write(&config_path, &altered).unwrap();
    let before = snapshot(&ws.layout());
    let out = inspect(&ws.layout_ref("v1"));
    assert_fails(&out, 1, "does not match its digest");
    assert!(stderr(&out).contains(&manifest.config.digest.to_string()));
    assert_eq!(snapshot(&ws.layout()), before);
    // The manifest blob altered on disk.
    fs::write(&config_path, &original).unwrap();
    let manifest_path = blob_path(&ws.layout(), &digest);
    let mut bytes = fs::read(&manifest_path).unwrap();
    bytes.push(b' ');
    fs::write(&manifest_path, &bytes).unwrap();
    assert_fails(&inspect(&ws.layout_ref("v1")), 1, "should be");
}

#[test]
fn a_config_descriptor_that_does_not_match_the_config_is_rejected() {
    let ws = Workspace::new();
    let digest = ws.pack("v1");
    let mut manifest = manifest_of(&ws, &digest);
    // Points at another blob of the layout: the descriptor's digest names content that is
    // not a config at all (the README layer).
    let readme = manifest.layers[1].clone();
    manifest.config.digest = readme.digest.clone();
    let reference = push_crafted(&ws, &manifest, "swapped");
    let out = inspect(&reference);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    // A descriptor size that does not match the content.
    let mut manifest = manifest_of(&ws, &digest);
    manifest.config.size += 1;
    let reference = push_crafted(&ws, &manifest, "resized");
    assert_fails(&inspect(&reference), 1, "should be");
    // A digest of content that is not there.
    let mut manifest = manifest_of(&ws, &digest);
    manifest.config.digest = Digest::sha256_of(b"absent");
    let reference = push_crafted(&ws, &manifest, "absent");
    assert_fails(&inspect(&reference), 2, "not found");
}

#[test]
fn a_filepath_that_escapes_the_model_directory_is_rejected() {
    let ws = Workspace::new();
    let digest = ws.pack("v1");
    for (i, evil) in [
        "../../etc/cron.d/evil",
        "/etc/passwd",
        "a/../../b",
        "dir\\..\\x",
        "a\u{0}b",
        "a\nb",
        "\u{1b}[2Jclear",
    ]
    .iter()
    .enumerate()
    {
        let mut manifest = manifest_of(&ws, &digest);
        manifest.layers[0]
            .annotations
            .as_mut()
            .unwrap()
            .insert("org.cncf.model.filepath".into(), evil.to_string());
        let tag = format!("evil{i}");
        let reference = push_crafted(&ws, &manifest, &tag);
        let out = inspect(&reference);
        assert_fails(&out, 1, "file path");
        assert!(stderr(&out).contains("layer 0"), "{}", stderr(&out));
    }
}

#[test]
fn file_metadata_declaring_links_devices_or_setuid_is_rejected() {
    let ws = Workspace::new();
    let digest = ws.pack("v1");
    let key = "org.cncf.model.file.metadata+json";
    let original = manifest_of(&ws, &digest);
    let size = original.layers[0].size;
    for (i, (typeflag, mode, needle)) in [
        (2, 0o644, "type flag 2"),
        (b'2' as u32, 0o644, "type flag 50"),
        (b'3' as u32, 0o644, "type flag 51"),
        (0, 0o4755, "setuid"),
        (0, 0o2755, "setuid"),
        (0, 0o120777, "special-file"),
        (0, 1 << 23 | 0o755, "setuid"),
        (0, 1 << 19 | 0o644, "special-file"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut manifest = original.clone();
        let metadata = format!(
            r#"{{"name":"LICENSE","mode":{mode},"uid":0,"gid":0,"size":{size},"mtime":"1970-01-01T00:00:00Z","typeflag":{typeflag}}}"#
        );
        manifest.layers[0]
            .annotations
            .as_mut()
            .unwrap()
            .insert(key.into(), metadata);
        let reference = push_crafted(&ws, &manifest, &format!("meta{i}"));
        assert_fails(&inspect(&reference), 1, needle);
    }
}

/// A change made to a good manifest to break it.
type Edit = Box<dyn Fn(&mut ImageManifest)>;

#[test]
fn inconsistent_manifests_are_rejected() {
    let ws = Workspace::new();
    let digest = ws.pack("v1");
    let original = manifest_of(&ws, &digest);
    let store = LayoutStore::open(&ws.layout()).unwrap();
    let cases: Vec<(&str, Edit)> = vec![
        (
            "two layers claim",
            Box::new(|m| {
                let key = "org.cncf.model.filepath";
                let first = m.layers[0].annotation(key).unwrap().to_string();
                m.layers[1]
                    .annotations
                    .as_mut()
                    .unwrap()
                    .insert(key.into(), first);
            }),
        ),
        (
            "is not a CNCF ModelPack (current specification) layer type",
            Box::new(|m| {
                m.layers[0].media_type = "application/vnd.cnai.model.doc.v1.raw".into();
            }),
        ),
        (
            "not a ModelPack",
            Box::new(|m| {
                m.artifact_type = Some("application/vnd.example".into());
                m.config.media_type = "application/vnd.example.config".into();
            }),
        ),
        (
            "needs a file path",
            Box::new(|m| {
                m.layers[0].annotations = None;
            }),
        ),
        ("no layers", Box::new(|m| m.layers.clear())),
    ];
    for (i, (needle, edit)) in cases.iter().enumerate() {
        let mut manifest = original.clone();
        edit(&mut manifest);
        let reference = push_crafted(&ws, &manifest, &format!("case{i}"));
        assert_fails(&inspect(&reference), 1, needle);
    }
    // diffIds that disagree with the layers: a config written for another manifest.
    let mut manifest = original.clone();
    let mut config: Value = serde_json::from_slice(
        &fs::read(blob_path(&ws.layout(), &original.config.digest.to_string())).unwrap(),
    )
    .unwrap();
    config["modelfs"]["diffIds"].as_array_mut().unwrap().pop();
    let bytes = serde_json::to_vec(&config).unwrap();
    let (config_digest, size) = store.push_blob(&mut bytes.as_slice(), None).unwrap();
    manifest.config = Descriptor::new(manifest.config.media_type.clone(), config_digest, size);
    let reference = push_crafted(&ws, &manifest, "diffids");
    assert_fails(&inspect(&reference), 1, "diffIds for 6 layers");
}

#[test]
fn a_truncated_or_oversized_index_is_reported_and_kept() {
    let ws = Workspace::new();
    ws.pack("v1");
    let index = ws.layout().join("index.json");
    let good = fs::read(&index).unwrap();
    fs::write(&index, &good[..good.len() - 7]).unwrap();
    let before = snapshot(&ws.layout());
    assert_fails(&inspect(&ws.layout_ref("v1")), 1, "index.json is not valid");
    // Writing into a damaged layout is refused rather than starting a fresh index.
    let out = modelseal()
        .arg("pack")
        .arg(ws.model())
        .arg(ws.layout_ref("v2"))
        .output()
        .unwrap();
    assert_fails(&out, 2, "index.json is not valid");
    let after = snapshot(&ws.layout());
    assert_eq!(
        after.get(Path::new("index.json")),
        before.get(Path::new("index.json"))
    );
    assert_eq!(
        after
            .keys()
            .filter(|p| !p.starts_with("blobs"))
            .collect::<Vec<_>>(),
        before
            .keys()
            .filter(|p| !p.starts_with("blobs"))
            .collect::<Vec<_>>()
    );
    // Oversized: refused before it is read.
    let mut huge = good.clone();
    huge.pop();
    huge.extend(std::iter::repeat_n(b' ', 33 << 20));
    huge.push(b'}');
    fs::write(&index, &huge).unwrap();
    assert_fails(&inspect(&ws.layout_ref("v1")), 1, "over the limit");
    assert_eq!(fs::read(&index).unwrap().len(), huge.len());
}

#[test]
fn a_manifest_listed_in_the_index_but_missing_is_reported() {
    let ws = Workspace::new();
    let digest = ws.pack("v1");
    fs::remove_file(blob_path(&ws.layout(), &digest)).unwrap();
    assert_fails(&inspect(&ws.layout_ref("v1")), 2, "not found");
}

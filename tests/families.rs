//! ModelPacks of every family modelseal reads: current CNCF, legacy CNAI and KitOps ModelKits,
//! written here byte by byte the way their own tools write them.

mod common;

use common::*;
use modelseal::oci::{Descriptor, Digest, LayoutStore, ManifestPush, Store, TagCondition};
use serde_json::{Value, json};

struct Crafted {
    ws: Workspace,
    store: LayoutStore,
}

impl Crafted {
    fn new() -> Crafted {
        let ws = Workspace::new();
        let store = LayoutStore::open_or_create(&ws.layout()).unwrap();
        Crafted { ws, store }
    }

    fn blob(&self, bytes: &[u8]) -> (Digest, u64) {
        self.store.push_blob(&mut &bytes[..], None).unwrap()
    }

    fn manifest(&self, manifest: &Value, tag: &str) -> String {
        let bytes = serde_json::to_vec(manifest).unwrap();
        self.store
            .push_manifest(ManifestPush {
                bytes: &bytes,
                media_type: "application/vnd.oci.image.manifest.v1+json",
                artifact_type: None,
                tag: Some(tag),
                condition: TagCondition::Always,
            })
            .unwrap();
        self.ws.layout_ref(tag)
    }

    fn descriptor(&self, media_type: &str, bytes: &[u8]) -> Value {
        let (digest, size) = self.blob(bytes);
        serde_json::to_value(Descriptor::new(media_type, digest, size)).unwrap()
    }
}

fn inspect(reference: &str) -> std::process::Output {
    modelseal()
        .args(["inspect", reference, "--output", "json"])
        .output()
        .unwrap()
}

/// What modctl v0.2.2 writes: `vnd.cnai` media types, `org.cnai` annotations, snake_case config.
#[test]
fn reads_a_legacy_cnai_modelpack() {
    let c = Crafted::new();
    let mut layer = c.descriptor("application/vnd.cnai.model.weight.v1.raw", b"weights");
    layer["annotations"] = json!({
        "org.cnai.model.filepath": "model.safetensors",
        "org.cnai.model.file.metadata": r#"{"name":"model.safetensors","mode":420,"uid":0,"gid":0,"size":7,"mtime":"2025-06-01T00:00:00Z","typeflag":48}"#,
    });
    let config = json!({
        "descriptor": {"name": "legacy", "createdAt": "2025-06-01T00:00:00Z"},
        "config": {"format": "safetensors", "paramSize": "0.5b"},
        "modelfs": {"type": "layers", "diff_ids": [layer["digest"]]},
    });
    let config_descriptor = c.descriptor(
        "application/vnd.cnai.model.config.v1+json",
        &serde_json::to_vec(&config).unwrap(),
    );
    let reference = c.manifest(
        &json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": "application/vnd.cnai.model.manifest.v1+json",
            "config": config_descriptor,
            "layers": [layer],
            "annotations": {"org.cnai.modctl.modelfile": "NAME legacy\nMODEL model.safetensors\n"},
        }),
        "legacy",
    );
    let out = inspect(&reference);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["family"], "cnai-legacy");
    assert_eq!(json["layers"][0]["filepath"], "model.safetensors");
    assert_eq!(json["layers"][0]["role"], "weight");
    let text = modelseal().args(["inspect", &reference]).output().unwrap();
    assert!(stdout(&text).contains("legacy CNAI ModelPack"));

    // The same legacy ModelPack with a diff_id that does not match its raw layer is rejected.
    let mut bad_config = config.clone();
    bad_config["modelfs"]["diff_ids"] = json!([Digest::sha256_of(b"other").to_string()]);
    let bad_descriptor = c.descriptor(
        "application/vnd.cnai.model.config.v1+json",
        &serde_json::to_vec(&bad_config).unwrap(),
    );
    let reference = c.manifest(
        &json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": bad_descriptor,
            "layers": [layer],
        }),
        "legacy-bad",
    );
    assert_fails(
        &inspect(&reference),
        1,
        "differs from the digest of the uncompressed layer",
    );
}

/// What `kit pack` writes: no manifest mediaType or artifactType in older versions, the Kitfile
/// as the config, `vnd.kitops.modelkit` layer types.
#[test]
fn reads_a_kitops_modelkit() {
    let c = Crafted::new();
    let model = c.descriptor("application/vnd.kitops.modelkit.model.v1.tar", b"model tar");
    let docs = c.descriptor(
        "application/vnd.kitops.modelkit.docs.v1.tar+gzip",
        b"docs tgz",
    );
    let kitfile = |model_path: &str| {
        json!({
            "manifestVersion": "1.0.0",
            "package": {"name": "kit-model", "version": "1.0.0", "license": "MIT"},
            "model": {"name": "kit-model", "path": model_path, "format": "gguf",
                      "digest": model["digest"], "diffId": model["digest"]},
            "docs": [{"path": "README.md", "digest": docs["digest"]}],
        })
    };
    let push = |kitfile: Value, tag: &str| {
        let config = c.descriptor(
            "application/vnd.kitops.modelkit.config.v1+json",
            &serde_json::to_vec(&kitfile).unwrap(),
        );
        c.manifest(
            &json!({"schemaVersion": 2, "config": config, "layers": [model, docs],
                    "annotations": {"ml.kitops.modelkit.cli-version": "1.8.0"}}),
            tag,
        )
    };
    let reference = push(kitfile("./model.gguf"), "kit");
    let out = inspect(&reference);
    // "./model.gguf" has a `.` part: Kitfiles are validated as strictly as file paths.
    assert_fails(&out, 1, "Kitfile path");
    let reference = push(kitfile("model.gguf"), "kit-ok");
    let out = inspect(&reference);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["family"], "kitops");
    assert_eq!(json["layers"][0]["role"], "weight");
    assert_eq!(json["layers"][1]["packing"], "tar-gzip");
    assert_eq!(json["layers"][0]["filepath"], Value::Null);
    let reference = push(kitfile("../../outside"), "kit-evil");
    assert_fails(&inspect(&reference), 1, "contains `..`");
    // Looking like a URL does not exempt a path from the check.
    let reference = push(kitfile("../../etc/cron.d/x://"), "kit-url");
    assert_fails(&inspect(&reference), 1, "contains `..`");
}

#[test]
fn an_artifact_of_no_modelpack_family_is_named_as_such() {
    let c = Crafted::new();
    let layer = c.descriptor("application/vnd.oci.image.layer.v1.tar", b"rootfs");
    let config = c.descriptor("application/vnd.oci.image.config.v1+json", b"{}");
    let reference = c.manifest(
        &json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": config, "layers": [layer]}),
        "image",
    );
    assert_fails(&inspect(&reference), 1, "is not a ModelPack");
}

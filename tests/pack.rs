//! `pack` and `inspect` through the real binary on the layout store.

mod common;

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use common::*;
use serde_json::Value;

fn inspect_json(reference: &str) -> Value {
    let out = modelseal()
        .args(["inspect", reference, "--output", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn packs_and_inspects_the_sample_model() {
    let ws = Workspace::new();
    let digest = ws.pack("v1");
    let json = inspect_json(&ws.layout_ref("v1"));
    assert_eq!(json["digest"], digest);
    assert_eq!(json["family"], "cncf");
    assert_eq!(
        json["artifactType"],
        "application/vnd.cncf.model.manifest.v1+json"
    );
    assert_eq!(
        json["config"]["mediaType"],
        "application/vnd.cncf.model.config.v1+json"
    );
    assert_eq!(json["config"]["content"]["descriptor"]["name"], "model");
    assert_eq!(json["config"]["content"]["config"]["format"], "safetensors");
    let layers = json["layers"].as_array().unwrap();
    let paths: Vec<&str> = layers
        .iter()
        .map(|l| l["filepath"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "LICENSE",
            "README.md",
            "config.json",
            "generation_config.json",
            "model.safetensors",
            "tokenizer.json"
        ]
    );
    let weights = &layers[4];
    assert_eq!(
        weights["mediaType"],
        "application/vnd.cncf.model.weight.v1.raw"
    );
    let file = fs::read(Path::new(SAMPLE_MODEL).join("model.safetensors")).unwrap();
    assert_eq!(weights["size"], file.len());
    assert_eq!(weights["metadata"]["mtime"], "1970-01-01T00:00:00Z");
    assert_eq!(weights["metadata"]["mode"], 0o644);
    assert_eq!(
        layers[2]["mediaType"],
        "application/vnd.cncf.model.weight.config.v1.raw"
    );
    assert_eq!(
        layers[0]["mediaType"],
        "application/vnd.cncf.model.doc.v1.raw"
    );
    // diffIds are the layer digests, in layer order.
    let diff_ids = json["config"]["content"]["modelfs"]["diffIds"]
        .as_array()
        .unwrap();
    let digests: Vec<&Value> = layers.iter().map(|l| &l["digest"]).collect();
    assert_eq!(diff_ids.iter().collect::<Vec<_>>(), digests);

    let text = modelseal()
        .args(["inspect", &ws.layout_ref("v1")])
        .output()
        .unwrap();
    assert!(text.status.success());
    assert!(stdout(&text).contains("CNCF ModelPack (current specification)"));
    assert!(stdout(&text).contains(&digest));
}

#[test]
fn the_same_directory_packs_to_the_same_digest() {
    let ws = Workspace::new();
    let first = ws.pack("a");
    // New modification times and another layout do not change the digest.
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(3600);
    for entry in fs::read_dir(ws.model()).unwrap() {
        let file = fs::File::options()
            .write(true)
            .open(entry.unwrap().path())
            .unwrap();
        file.set_modified(later).unwrap();
    }
    let other = Workspace::new();
    assert_eq!(other.pack("b"), first);
    assert_eq!(ws.pack("c"), first);
    // With --timestamps the creation time is recorded, so the digest moves.
    let out = ws.pack_dir(&ws.model(), &ws.layout_ref("d"), &["--timestamps"]);
    assert!(out.status.success());
    assert!(!stdout(&out).contains(&first));
    let json = inspect_json(&ws.layout_ref("d"));
    assert!(json["config"]["content"]["descriptor"]["createdAt"].is_string());
}

#[test]
fn metadata_flags_and_role_overrides_land_in_the_config() {
    let ws = Workspace::new();
    fs::create_dir(ws.model().join("eval")).unwrap();
    fs::write(ws.model().join("eval/questions.json"), b"[]").unwrap();
    fs::write(ws.model().join("weights.xyz"), b"opaque").unwrap();
    fs::write(ws.model().join(".hidden"), b"secret").unwrap();
    let out = ws.pack_dir(
        &ws.model(),
        &ws.layout_ref("v1"),
        &[
            "--name",
            "tiny",
            "--version",
            "1.2.0",
            "--family",
            "tinyllm",
            "--architecture",
            "transformer",
            "--precision",
            "float32",
            "--param-size",
            "1K",
            "--quantization",
            "none",
            "--license",
            "Apache-2.0",
            "--license",
            "MIT",
            "--author",
            "ml@example.org",
            "--vendor",
            "Example",
            "--title",
            "Tiny",
            "--description",
            "A toy",
            "--source-url",
            "https://example.org/tiny",
            "--revision",
            "abc123",
            "--doc-url",
            "https://example.org/doc",
            "--dataset",
            "eval/*.json",
            "--weight",
            "*.xyz",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let json = inspect_json(&ws.layout_ref("v1"));
    let content = &json["config"]["content"];
    assert_eq!(content["descriptor"]["name"], "tiny");
    assert_eq!(
        content["descriptor"]["licenses"],
        serde_json::json!(["Apache-2.0", "MIT"])
    );
    assert_eq!(
        content["descriptor"]["sourceURL"],
        "https://example.org/tiny"
    );
    assert_eq!(content["config"]["paramSize"], "1K");
    let layers = json["layers"].as_array().unwrap();
    let by_path = |p: &str| layers.iter().find(|l| l["filepath"] == p).unwrap().clone();
    assert_eq!(by_path("eval/questions.json")["role"], "dataset");
    assert_eq!(by_path("weights.xyz")["role"], "weight");
    assert_eq!(by_path("weights.xyz")["untested"], false);
    assert!(layers.iter().all(|l| l["filepath"] != ".hidden"));
    // Two weight formats disagree: format is left unset rather than guessed.
    assert!(content["config"].get("format").is_none());
}

#[test]
fn the_config_validates_against_the_published_schema() {
    let ws = Workspace::new();
    let out = ws.pack_dir(
        &ws.model(),
        &ws.layout_ref("v1"),
        &[
            "--timestamps",
            "--license",
            "Apache-2.0",
            "--precision",
            "float32",
            "--param-size",
            "2K",
        ],
    );
    assert!(out.status.success());
    let json = inspect_json(&ws.layout_ref("v1"));
    let schema_text = fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/modelpack-config-schema.json"
    ))
    .unwrap();
    let schema: Value = serde_json::from_str(&schema_text).unwrap();
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap();
    let config = &json["config"]["content"];
    let errors: Vec<String> = validator
        .iter_errors(config)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    // The validator is not vacuous: a config the schema forbids is caught.
    let mut bad = config.clone();
    bad["modelfs"]["diffIds"] = serde_json::json!([]);
    bad["descriptor"]["unknown"] = serde_json::json!(1);
    assert!(validator.iter_errors(&bad).count() >= 2);
}

#[test]
fn unknown_files_need_a_role() {
    let ws = Workspace::new();
    fs::write(ws.model().join("blob.xyz"), b"?").unwrap();
    let out = ws.pack_dir(&ws.model(), &ws.layout_ref("v1"), &[]);
    assert_fails(&out, 2, "no role is known for blob.xyz");
    assert!(!ws.layout().exists());
    let out = ws.pack_dir(&ws.model(), &ws.layout_ref("v1"), &["--unknown-as", "code"]);
    assert!(out.status.success());
    assert!(stderr(&out).contains("marked untested"));
    let json = inspect_json(&ws.layout_ref("v1"));
    let layer = json["layers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["filepath"] == "blob.xyz")
        .cloned()
        .unwrap();
    assert_eq!(layer["untested"], true);
    assert_eq!(layer["mediaType"], "application/vnd.cncf.model.code.v1.raw");
}

#[test]
fn a_symlink_pointing_outside_is_refused_and_nothing_is_written() {
    let ws = Workspace::new();
    fs::write(ws.path("outside.bin"), b"secret").unwrap();
    symlink(ws.path("outside.bin"), ws.model().join("leak.safetensors")).unwrap();
    let out = ws.pack_dir(&ws.model(), &ws.layout_ref("v1"), &[]);
    assert_fails(&out, 2, "outside the model directory");
    assert!(!ws.layout().exists());
    // A link inside the directory is packed as the file it points to.
    fs::remove_file(ws.model().join("leak.safetensors")).unwrap();
    symlink("model.safetensors", ws.model().join("alias.safetensors")).unwrap();
    ws.pack("v1");
    // --follow-symlinks is the explicit way out.
    symlink(ws.path("outside.bin"), ws.model().join("leak.safetensors")).unwrap();
    let out = ws.pack_dir(&ws.model(), &ws.layout_ref("v2"), &["--follow-symlinks"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn special_files_are_refused_without_blocking_and_nothing_is_written() {
    let ws = Workspace::new();
    let fifo = ws.model().join("pipe.bin");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let out = ws.pack_dir(&ws.model(), &ws.layout_ref("v1"), &[]);
    assert_fails(&out, 2, "pipe.bin is not a regular file");
    assert!(!ws.layout().exists());
    // A link to the FIFO is refused the same way.
    fs::remove_file(&fifo).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(ws.path("outside-pipe"))
        .status()
        .unwrap();
    assert!(made.success());
    symlink("../outside-pipe", ws.model().join("link.bin")).unwrap();
    let out = ws.pack_dir(&ws.model(), &ws.layout_ref("v1"), &["--follow-symlinks"]);
    assert_fails(&out, 2, "link.bin is not a regular file");
    assert!(!ws.layout().exists());
}

#[test]
fn an_empty_directory_is_refused_and_nothing_is_written() {
    let ws = Workspace::new();
    let empty = ws.path("empty");
    fs::create_dir(&empty).unwrap();
    fs::write(empty.join(".gitattributes"), b"*").unwrap();
    let out = ws.pack_dir(&empty, &ws.layout_ref("v1"), &[]);
    assert_fails(&out, 2, "has no files to pack");
    assert!(!ws.layout().exists());
}

/// Root reads every file, so the check runs the binary as `nobody` when the tests run as root.
#[test]
fn an_unreadable_file_is_refused_and_nothing_is_written() {
    let ws = Workspace::new();
    let root = ws.dir.path();
    fs::set_permissions(root, fs::Permissions::from_mode(0o777)).unwrap();
    fs::set_permissions(ws.model(), fs::Permissions::from_mode(0o755)).unwrap();
    for entry in fs::read_dir(ws.model()).unwrap() {
        fs::set_permissions(entry.unwrap().path(), fs::Permissions::from_mode(0o644)).unwrap();
    }
    let secret = ws.model().join("secret.safetensors");
    fs::write(&secret, b"weights").unwrap();
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o000)).unwrap();
    let binary = root.join("modelseal");
    fs::copy(assert_cmd::cargo::cargo_bin("modelseal"), &binary).unwrap();
    fs::set_permissions(&binary, fs::Permissions::from_mode(0o755)).unwrap();
    let as_root = unsafe_is_root();
    let mut cmd = if as_root {
        let mut c = std::process::Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(&binary);
        c
    } else {
        std::process::Command::new(&binary)
    };
    let out = cmd
        .arg("pack")
        .arg(ws.model())
        .arg(ws.layout_ref("v1"))
        .output()
        .unwrap();
    assert_fails(&out, 2, "secret.safetensors cannot be read");
    assert!(!ws.layout().exists());
}

fn unsafe_is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// One file keeps growing while it is packed. With several threads, the others must stop
/// too (a bug once had them spin forever), so the command runs under a time limit.
fn pack_while_a_file_grows(threads: &str) {
    let ws = Workspace::new();
    ws.pack("before");
    let index_before = fs::read(ws.layout().join("index.json")).unwrap();
    // Two large stable files keep the other threads busy while the third one grows.
    for name in ["a.safetensors", "b.safetensors"] {
        fs::write(ws.model().join(name), vec![3u8; 96 << 20]).unwrap();
    }
    let big = ws.model().join("growing.safetensors");
    fs::write(&big, vec![7u8; 64 << 20]).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let big = big.clone();
        std::thread::spawn(move || {
            use std::io::Write;
            let mut file = fs::OpenOptions::new().append(true).open(&big).unwrap();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                file.write_all(&[1u8; 4096]).unwrap();
                std::thread::sleep(std::time::Duration::from_micros(200));
            }
        })
    };
    let out = modelseal()
        .args(["pack", "--threads", threads])
        .arg(ws.model())
        .arg(ws.layout_ref("during"))
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
    assert_fails(&out, 2, "changed while it was being packed");
    assert!(stderr(&out).contains("growing.safetensors"));
    assert_eq!(
        fs::read(ws.layout().join("index.json")).unwrap(),
        index_before
    );
    let tags = modelseal()
        .args(["inspect", &ws.layout_ref("during")])
        .output()
        .unwrap();
    assert_fails(&tags, 2, "tag \"during\" not found");
}

#[test]
fn a_file_that_changes_while_packed_is_detected_and_nothing_is_tagged() {
    pack_while_a_file_grows("1");
}

#[test]
fn a_file_that_changes_while_packed_in_parallel_stops_every_thread() {
    pack_while_a_file_grows("3");
}

#[test]
fn too_many_files_are_refused_before_anything_is_written() {
    let ws = Workspace::new();
    let many = ws.path("many");
    fs::create_dir(&many).unwrap();
    for i in 0..10_001 {
        fs::write(many.join(format!("{i}.json")), b"{}").unwrap();
    }
    let out = ws.pack_dir(&many, &ws.layout_ref("v1"), &[]);
    assert_fails(&out, 2, "at most 10000 layers");
    assert!(!ws.layout().exists());
}

#[test]
fn a_layout_that_lost_its_marker_is_not_replaced() {
    let ws = Workspace::new();
    ws.pack("v1");
    fs::remove_file(ws.layout().join("oci-layout")).unwrap();
    let before = snapshot(&ws.layout());
    let out = ws.pack_dir(&ws.model(), &ws.layout_ref("v2"), &[]);
    assert_fails(&out, 2, "restore `oci-layout`");
    assert_eq!(snapshot(&ws.layout()), before);
}

#[test]
fn two_processes_packing_into_one_layout_keep_both_tags() {
    let ws = Workspace::new();
    let second = Workspace::new();
    fs::write(second.model().join("extra.md"), b"another model").unwrap();
    for round in 0..3 {
        let a = format!("a{round}");
        let b = format!("b{round}");
        let spawn = |model: &Path, tag: &str| {
            std::process::Command::new(assert_cmd::cargo::cargo_bin("modelseal"))
                .arg("pack")
                .arg(model)
                .arg(ws.layout_ref(tag))
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        };
        let first = spawn(&ws.model(), &a);
        let other = spawn(&second.model(), &b);
        for child in [first, other] {
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "{}", stderr(&out));
        }
    }
    let index: Value =
        serde_json::from_slice(&fs::read(ws.layout().join("index.json")).unwrap()).unwrap();
    let tags: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            m["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .unwrap()
        })
        .collect();
    for tag in ["a0", "b0", "a1", "b1", "a2", "b2"] {
        assert!(tags.contains(&tag), "{tag} missing from {tags:?}");
        inspect_json(&ws.layout_ref(tag));
    }
}

#[test]
fn a_non_layout_directory_is_not_taken_over() {
    let ws = Workspace::new();
    let target = ws.path("docs");
    fs::create_dir(&target).unwrap();
    fs::write(target.join("notes.txt"), b"mine").unwrap();
    let before = snapshot(&target);
    let out = modelseal()
        .arg("pack")
        .arg(ws.model())
        .arg(format!("oci:{}:v1", target.display()))
        .output()
        .unwrap();
    assert_fails(&out, 2, "is not empty and has no `oci-layout` file");
    assert_eq!(snapshot(&target), before);
}

#[test]
fn bad_references_and_arguments_are_usage_errors() {
    let ws = Workspace::new();
    let out = ws.pack_dir(&ws.model(), "models/tiny:1", &[]);
    assert_fails(&out, 2, "has no registry host");
    let out = modelseal().args(["inspect", "oci:"]).output().unwrap();
    assert_fails(&out, 2, "`oci:` needs a directory");
    let out = ws.pack_dir(&ws.model(), &ws.layout_ref("v1"), &["--param-size", "lots"]);
    assert_fails(&out, 2, "parameter size");
    let out = modelseal()
        .args([
            "inspect",
            &format!("oci:{}:v1", ws.path("absent").display()),
        ])
        .output()
        .unwrap();
    assert_fails(&out, 2, "does not exist");
    // Nothing listens on port 1: an unreachable registry is an operational error.
    let out = modelseal()
        .args(["inspect", "127.0.0.1:1/models/tiny:1"])
        .output()
        .unwrap();
    assert_fails(&out, 2, "127.0.0.1:1/models/tiny");
}

#[test]
fn a_closed_output_pipe_keeps_the_exit_status() {
    use std::process::{Command, Stdio};
    let ws = Workspace::new();
    ws.pack("v1");
    let (_, public) = keys(&ws, "signer");
    let binary = assert_cmd::cargo::cargo_bin("modelseal");
    for (args, code) in [
        (vec!["inspect".to_string(), ws.layout_ref("v1")], 0),
        (
            vec![
                "verify".to_string(),
                "--key".to_string(),
                public.display().to_string(),
                ws.layout_ref("v1"),
            ],
            1,
        ),
    ] {
        let mut child = Command::new(&binary)
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", stderr(&out));
        assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    }
}

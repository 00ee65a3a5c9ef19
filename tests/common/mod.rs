//! Helpers shared by the integration tests: the real binary, fresh folders, the sample model,
//! and snapshots that prove a failed command wrote nothing and lost nothing.

#![allow(dead_code)]

pub mod fake_registry;
pub mod proxy;
pub mod registry;
pub mod sigstore_mock;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;

pub const SAMPLE_MODEL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/tiny-model");

pub fn modelseal() -> Command {
    let mut cmd = Command::cargo_bin("modelseal").expect("binary built");
    cmd.env_remove("COSIGN_PASSWORD");
    cmd
}

/// A fresh folder with a copy of the sample model at `model/`.
pub struct Workspace {
    pub dir: tempfile::TempDir,
}

impl Workspace {
    pub fn new() -> Workspace {
        let dir = tempfile::tempdir().expect("tempdir");
        let ws = Workspace { dir };
        copy_dir(Path::new(SAMPLE_MODEL), &ws.model());
        ws
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn model(&self) -> PathBuf {
        self.path("model")
    }

    pub fn layout(&self) -> PathBuf {
        self.path("layout")
    }

    pub fn layout_ref(&self, tag: &str) -> String {
        format!("oci:{}:{tag}", self.layout().display())
    }

    /// Runs `modelseal pack [extra...] DIR REF`.
    pub fn pack_dir(&self, dir: &Path, reference: &str, extra: &[&str]) -> Output {
        modelseal()
            .arg("pack")
            .args(extra)
            .arg(dir)
            .arg(reference)
            .output()
            .expect("run")
    }

    /// Packs the sample model and returns the digest printed on standard output.
    pub fn pack(&self, tag: &str) -> String {
        let out = self.pack_dir(&self.model(), &self.layout_ref(tag), &[]);
        assert!(out.status.success(), "pack failed: {}", stderr(&out));
        let printed = stdout(&out);
        let digest = printed
            .trim()
            .rsplit_once('@')
            .map(|(_, d)| d.to_string())
            .expect("pinned reference");
        assert!(digest.starts_with("sha256:"), "{printed}");
        digest
    }
}

/// Runs `modelseal generate-key-pair --algorithm ALGORITHM --output-key-prefix PREFIX` with
/// `password` in `COSIGN_PASSWORD`.
pub fn generate_key_pair(prefix: &Path, algorithm: &str, password: &str) -> Output {
    modelseal()
        .args([
            "generate-key-pair",
            "--algorithm",
            algorithm,
            "--output-key-prefix",
        ])
        .arg(prefix)
        .env("COSIGN_PASSWORD", password)
        .output()
        .expect("run")
}

/// Runs several `modelseal` invocations at the same time, each with `COSIGN_PASSWORD=pw`, and
/// asserts that every one succeeds.
pub fn run_together(invocations: Vec<Vec<std::ffi::OsString>>) {
    let children: Vec<_> = invocations
        .into_iter()
        .map(|args| {
            std::process::Command::new(assert_cmd::cargo::cargo_bin("modelseal"))
                .args(args)
                .env("COSIGN_PASSWORD", "pw")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn modelseal")
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().expect("wait");
        assert!(out.status.success(), "{}", stderr(&out));
    }
}

pub fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for entry in fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// Every file below `root` with its content: equal snapshots mean nothing was written or lost.
pub fn snapshot(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    if root.exists() {
        collect(root, root, &mut files);
    }
    files
}

fn collect(root: &Path, dir: &Path, files: &mut BTreeMap<PathBuf, Vec<u8>>) {
    for entry in fs::read_dir(dir).expect("read_dir") {
        let entry = entry.expect("entry");
        let path = entry.path();
        let relative = path.strip_prefix(root).expect("prefix").to_path_buf();
        let kind = entry.file_type().expect("type");
        if kind.is_dir() {
            files.insert(relative.join(""), Vec::new());
            collect(root, &path, files);
        } else if kind.is_symlink() {
            files.insert(relative, b"-> symlink".to_vec());
        } else {
            files.insert(
                relative,
                fs::read(&path).unwrap_or_else(|_| b"(unreadable)".to_vec()),
            );
        }
    }
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Everything a command printed: standard output, then standard error.
pub fn said(out: &Output) -> String {
    format!("{}{}", stdout(out), stderr(out))
}

/// Asserts the exit status and that standard error says `needle`.
pub fn assert_fails(out: &Output, code: i32, needle: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "stderr: {err}");
    assert!(err.contains(needle), "expected {needle:?} in: {err}");
}

/// Writes a private key file for its owner alone (0600), as modelseal requires.
pub fn write_private(path: &Path, bytes: impl AsRef<[u8]>) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::write(path, bytes).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// A copy (0600) in the workspace of a key fixture from `testdata/keys`.
pub fn private_fixture(ws: &Workspace, name: &str) -> PathBuf {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/keys")
        .join(name);
    let copy = ws.path(name);
    write_private(&copy, std::fs::read(fixture).unwrap());
    copy
}

/// A fresh ECDSA P-256 key pair `NAME.key` (password `pw`) and `NAME.pub` in the workspace.
pub fn keys(ws: &Workspace, name: &str) -> (PathBuf, PathBuf) {
    let out = generate_key_pair(&ws.path(name), "ecdsa-p256", "pw");
    assert!(out.status.success(), "{}", stderr(&out));
    (
        ws.path(&format!("{name}.key")),
        ws.path(&format!("{name}.pub")),
    )
}

/// Runs modelseal with the password of [`keys`].
pub fn run(args: &[&str]) -> Output {
    modelseal()
        .args(args)
        .env("COSIGN_PASSWORD", "pw")
        .output()
        .unwrap()
}

/// Runs modelseal with the password of [`keys`], which must succeed; returns its output.
pub fn ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    stdout(&out)
}

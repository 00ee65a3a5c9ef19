//! `trusted-root update`: the trusted root fetched over TUF from a repository started in the
//! test (python-tuf's Metadata API, `tests/sigstore/tuf-repository.py`), verified from the
//! pinned TUF root, written byte for byte; and every way a refresh must fail without writing.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::*;

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/sigstore/tuf-repository.py"
);
/// A trusted root to serve: the public-good one the conformance cases were signed under.
const TRUSTED_ROOT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/testdata/conformance/production_trusted_root.json"
);
const CONFORMANCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/conformance");

struct TufRepository {
    child: Child,
    url: String,
    root: PathBuf,
}

impl TufRepository {
    fn start(dir: &Path, flags: &[&str]) -> TufRepository {
        let mut child = Command::new("python3")
            .arg(SCRIPT)
            .arg(dir)
            .arg(TRUSTED_ROOT)
            .args(flags)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 is required");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(
            line.starts_with("http://127.0.0.1:"),
            "the TUF repository did not start (python-tuf comes with sigstore-python, which .ci/run installs): {line:?}"
        );
        TufRepository {
            child,
            url: line.trim().to_string(),
            root: dir.join("root.json"),
        }
    }
}

impl Drop for TufRepository {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn update(
    ws: &Workspace,
    repo: &TufRepository,
    root: &Path,
    output: &Path,
) -> std::process::Output {
    modelseal()
        .args([
            "trusted-root",
            "update",
            "--tuf-url",
            &repo.url,
            "--tuf-root",
        ])
        .arg(root)
        .arg("--cache")
        .arg(ws.path("cache"))
        .arg("--output")
        .arg(output)
        .output()
        .unwrap()
}

#[test]
fn the_trusted_root_is_fetched_over_tuf_byte_for_byte() {
    let ws = Workspace::new();
    let repo = TufRepository::start(&ws.path("tuf"), &[]);
    let output = ws.path("trusted_root.json");
    let out = update(&ws, &repo, &repo.root, &output);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read(&output).unwrap(),
        std::fs::read(TRUSTED_ROOT).unwrap()
    );
    assert!(ws.path("cache/timestamp.json").exists());
    // The file serves --trusted-root: a conformance bundle verifies against it.
    let case = Path::new(CONFORMANCE).join("bundle-verify/happy-path-v0.3");
    let out = modelseal()
        .args(["verify-bundle", "--bundle"])
        .arg(case.join("bundle.sigstore.json"))
        .arg("--trusted-root")
        .arg(&output)
        .args([
            "--certificate-identity-regexp",
            ".*",
            "--certificate-oidc-issuer-regexp",
            ".*",
        ])
        .arg(Path::new(CONFORMANCE).join("a.txt"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_refresh_that_does_not_verify_writes_nothing() {
    let ws = Workspace::new();
    let output = ws.path("trusted_root.json");
    std::fs::write(&output, b"kept").unwrap();
    // Expired timestamp metadata (a freeze), a target that is not the one signed, and a
    // repository signed by keys other than the pinned root's.
    let expired = TufRepository::start(&ws.path("expired"), &["--expired"]);
    let out = update(&ws, &expired, &expired.root, &output);
    assert_fails(&out, 2, "expired");
    let tampered = TufRepository::start(&ws.path("tampered"), &["--tampered"]);
    let out = update(&ws, &tampered, &tampered.root, &ws.path("other.json"));
    assert_fails(&out, 2, "trusted_root.json");
    let honest = TufRepository::start(&ws.path("honest"), &[]);
    let out = update(&ws, &honest, &tampered.root, &output);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    // A pinned root that is not a TUF root at all.
    let out = update(&ws, &honest, Path::new(TRUSTED_ROOT), &output);
    assert_fails(&out, 2, "TUF root");
    // Nothing unreachable is taken for an empty answer.
    let gone = format!("{}/", honest.url);
    drop(honest);
    let out = modelseal()
        .args(["trusted-root", "update", "--tuf-url", &gone, "--tuf-root"])
        .arg(&expired.root)
        .arg("--output")
        .arg(&output)
        .env("XDG_CACHE_HOME", ws.path("xdg"))
        .output()
        .unwrap();
    assert_fails(&out, 2, "cannot refresh");
    assert_eq!(std::fs::read(&output).unwrap(), b"kept");
    assert!(!ws.path("other.json").exists());
}

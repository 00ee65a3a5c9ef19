//! `generate-key-pair` and `public-key` through the real binary.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;

use common::*;

#[test]
fn generates_cosign_format_key_pairs() {
    for algorithm in ["ecdsa-p256", "ed25519"] {
        let ws = Workspace::new();
        let prefix = ws.path("release");
        let out = generate_key_pair(&prefix, algorithm, "correct horse");
        assert!(out.status.success(), "{}", stderr(&out));
        let key_path = ws.path("release.key");
        let private = fs::read_to_string(&key_path).unwrap();
        assert!(private.starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n"));
        assert_eq!(
            fs::metadata(&key_path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let public = fs::read_to_string(ws.path("release.pub")).unwrap();
        assert!(public.starts_with("-----BEGIN PUBLIC KEY-----\n"));
        // Nothing secret is printed.
        assert!(out.stdout.is_empty());
        assert!(!stderr(&out).contains("correct horse"));
        assert!(!stderr(&out).contains("PRIVATE KEY-----"));
        // The private key loads back with the password and yields the same public key.
        let derived = modelseal()
            .args(["public-key", "--key"])
            .arg(&key_path)
            .env("COSIGN_PASSWORD", "correct horse")
            .output()
            .unwrap();
        assert!(derived.status.success(), "{}", stderr(&derived));
        assert_eq!(stdout(&derived), public);
    }
}

#[test]
fn existing_key_files_are_not_overwritten_without_force() {
    let ws = Workspace::new();
    let prefix = ws.path("k");
    let run = |force: bool| {
        let mut cmd = modelseal();
        cmd.args(["generate-key-pair", "--output-key-prefix"])
            .arg(&prefix)
            .env("COSIGN_PASSWORD", "");
        if force {
            cmd.arg("--force");
        }
        cmd.output().unwrap()
    };
    assert!(run(false).status.success());
    let before = snapshot(ws.dir.path());
    assert_fails(&run(false), 2, "already exists; pass --force");
    assert_eq!(snapshot(ws.dir.path()), before);
    assert!(run(true).status.success());
    assert_ne!(
        fs::read(ws.path("k.key")).unwrap(),
        before[&std::path::PathBuf::from("k.key")]
    );
}

#[test]
fn loads_a_key_generated_by_cosign() {
    let ws = Workspace::new();
    let key = private_fixture(&ws, "cosign-generated-empty-password.key");
    let out = modelseal()
        .args(["public-key", "--key"])
        .arg(&key)
        .env("COSIGN_PASSWORD", "")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("-----BEGIN PUBLIC KEY-----\n"));
}

fn public_key_of(path: &std::path::Path, password: Option<&str>) -> std::process::Output {
    let mut cmd = modelseal();
    cmd.args(["public-key", "--key"]).arg(path);
    if let Some(p) = password {
        cmd.env("COSIGN_PASSWORD", p);
    }
    cmd.output().unwrap()
}

#[test]
fn bad_key_files_are_refused_clearly() {
    let ws = Workspace::new();
    let fixture = private_fixture(&ws, "cosign-generated-empty-password.key");
    let cosign = fs::read_to_string(&fixture).unwrap();

    let wrong = public_key_of(&fixture, Some("guess"));
    assert_fails(&wrong, 2, "wrong password");

    let truncated = ws.path("truncated.key");
    write_private(&truncated, &cosign[..cosign.len() / 2]);
    assert_fails(&public_key_of(&truncated, Some("")), 2, "not valid PEM");

    // Unknown KDF parameters: N = 2^10, re-encoded in a valid PEM frame.
    let body = pem_body(&cosign).replace(r#""N":65536"#, r#""N":1024"#);
    let weak = ws.path("weak.key");
    write_private(
        &weak,
        frame("ENCRYPTED SIGSTORE PRIVATE KEY", body.as_bytes()),
    );
    assert_fails(
        &public_key_of(&weak, Some("")),
        2,
        "unsupported key derivation scrypt N = 1024",
    );

    let label = ws.path("label.key");
    write_private(&label, frame("OPENSSH PRIVATE KEY", b"x"));
    assert_fails(
        &public_key_of(&label, Some("")),
        2,
        "unsupported key file: PEM label",
    );

    // No password and no terminal (a new session has no controlling terminal): a clear
    // error, not a hang.
    let no_tty = std::process::Command::new("setsid")
        .arg(assert_cmd::cargo::cargo_bin("modelseal"))
        .args(["public-key", "--key"])
        .arg(&fixture)
        .env_remove("COSIGN_PASSWORD")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_fails(&no_tty, 2, "COSIGN_PASSWORD");

    // A "file" that never ends is cut off at the size limit, not read into memory.
    let endless = public_key_of(std::path::Path::new("/dev/zero"), Some(""));
    assert_fails(&endless, 2, "it is not a key file");

    let missing = public_key_of(&ws.path("absent.key"), Some(""));
    assert_fails(&missing, 2, "absent.key");
}

#[test]
fn a_key_file_others_can_read_is_refused() {
    use std::os::unix::fs::PermissionsExt as _;
    let ws = Workspace::new();
    let layout = ws.layout_ref("v1");
    ws.pack("v1");
    for mode in [0o640, 0o604, 0o644] {
        let key = private_fixture(&ws, "cosign-generated-empty-password.key");
        fs::set_permissions(&key, fs::Permissions::from_mode(mode)).unwrap();
        let before = snapshot(&ws.layout());
        for args in [vec!["public-key", "--key"], vec!["sign", &layout, "--key"]] {
            let out = modelseal()
                .args(&args)
                .arg(&key)
                .env("COSIGN_PASSWORD", "")
                .output()
                .unwrap();
            assert_fails(&out, 2, &format!("(mode {mode:04o})"));
            assert!(stderr(&out).contains("chmod 600"), "{}", stderr(&out));
        }
        assert_eq!(snapshot(&ws.layout()), before);
    }
}

fn pem_body(pem_text: &str) -> String {
    let b64: String = pem_text
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let bytes = base64_decode(&b64);
    String::from_utf8(bytes).unwrap()
}

fn frame(label: &str, body: &[u8]) -> String {
    let b64 = base64_encode(body);
    let lines: Vec<String> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| String::from_utf8(c.to_vec()).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

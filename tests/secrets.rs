//! No secret reaches any output: every command that touches a key runs with `RUST_LOG=trace`
//! (and with a wrong password), and neither the password, nor the private key (its file, its
//! PKCS#8 DER, its scalar) appears in standard output or standard error.

mod common;

use std::path::Path;
use std::process::Output;

use base64::Engine as _;
use common::*;
use zeroize::Zeroizing;

const PASSWORD: &str = "correct-horse-battery-staple-7f3a";

/// Every form the secret could leak in.
fn secrets(key_file: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(key_file).unwrap();
    let key = modelseal::keys::load_private_key(text.as_bytes(), || {
        Ok(Zeroizing::new(PASSWORD.to_string()))
    })
    .unwrap();
    let der = key.to_pkcs8_der().unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut forms = vec![
        PASSWORD.to_string(),
        hex::encode(&der[..]),
        b64.encode(&der[..]),
    ];
    // The encrypted file's body lines, and the scalar (the last 32 bytes of the P-256 PKCS#8
    // DER hold the public point; the scalar sits in the SEC1 structure: search each 16-byte
    // window of the DER's hex so that any slice of the key is caught).
    forms.extend(
        text.lines()
            .filter(|l| !l.starts_with("-----") && l.len() > 16)
            .map(str::to_string),
    );
    let hex = hex::encode(&der[..]);
    forms.extend(
        hex.as_bytes()
            .chunks(32)
            .filter(|c| c.len() == 32)
            .map(|c| String::from_utf8(c.to_vec()).unwrap()),
    );
    forms
}

fn assert_clean(out: &Output, forms: &[String], what: &str) {
    let all = said(out);
    for form in forms {
        assert!(
            !all.contains(form.as_str()),
            "{what} printed a secret ({form:.8}…): {all}"
        );
    }
}

#[test]
fn no_command_prints_a_password_or_private_key() {
    let ws = Workspace::new();
    let prefix = ws.path("release");
    let out = generate_key_pair(&prefix, "ecdsa-p256", PASSWORD);
    assert!(out.status.success(), "{}", stderr(&out));
    let key = ws.path("release.key");
    let public = ws.path("release.pub");
    let forms = secrets(&key);
    // The public key is no secret, but its PEM must not be mistaken for one.
    let public_pem = std::fs::read_to_string(&public).unwrap();
    assert!(forms.iter().all(|f| !public_pem.contains(f.as_str())));

    ws.pack("v1");
    let layout = ws.layout_ref("v1");
    let key = key.to_str().unwrap();
    let public = public.to_str().unwrap();
    let predicate = ws.path("predicate.json");
    std::fs::write(&predicate, r#"{"a":1}"#).unwrap();
    let predicate = predicate.to_str().unwrap();
    let policy = ws.path("policy.yaml");
    std::fs::write(
        &policy,
        format!(
            "version: 1\npolicies:\n  - name: p\n    scopes: [\"**\"]\n    authorities:\n      - name: k\n        key: {{path: {public}}}\n    signatures: {{threshold: 1}}\n"
        ),
    )
    .unwrap();
    let policy = policy.to_str().unwrap();
    let copy = ws.path("copy");
    let copy = format!("oci:{}:v1", copy.display());
    let commands: Vec<Vec<&str>> = vec![
        vec!["public-key", "--key", key],
        vec!["sign", "--key", key, &layout],
        vec!["sign", "--key", key, "--format", "legacy", &layout],
        vec!["sign", "--key", key, "--output", "json", &layout],
        vec![
            "attest",
            "--key",
            key,
            "--type",
            "custom",
            "--predicate",
            predicate,
            &layout,
        ],
        vec![
            "attest",
            "--key",
            key,
            "--type",
            "custom",
            "--predicate",
            predicate,
            "--format",
            "legacy",
            &layout,
        ],
        vec![
            "provenance",
            &layout,
            "--builder-id",
            "https://ci.example.com",
            "--attest",
            "--key",
            key,
        ],
        vec!["scan", &layout, "--attest", "--key", key],
        vec!["verify", "--key", public, &layout],
        vec!["verify", "--key", public, "--output", "json", &layout],
        vec![
            "verify-attestation",
            "--key",
            public,
            "--type",
            "custom",
            &layout,
        ],
        vec!["verify", "--policy", policy, &layout],
        vec!["policy", "lint", policy],
        vec!["tree", &layout],
        vec!["inspect", &layout],
        vec!["copy", &layout, &copy],
        // Signing with the private key where a public one is expected, and the other way round.
        vec!["verify", "--key", key, &layout],
        vec!["verify-bundle", "--bundle", key, "--key", key, predicate],
    ];
    for args in &commands {
        for password in [PASSWORD, "wrong-password"] {
            let out = modelseal()
                .args(args)
                .env("COSIGN_PASSWORD", password)
                .env("RUST_LOG", "trace")
                .env("RUST_BACKTRACE", "full")
                .output()
                .unwrap();
            assert_clean(&out, &forms, &args.join(" "));
        }
    }
    // A key file that is not valid PEM: the error does not quote it.
    let broken = ws.path("broken.key");
    let text = std::fs::read_to_string(key).unwrap();
    write_private(&broken, &text[..text.len() / 2]);
    let out = modelseal()
        .args(["sign", "--key"])
        .arg(&broken)
        .arg(&layout)
        .env("COSIGN_PASSWORD", PASSWORD)
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_clean(&out, &forms, "sign with a broken key");
}

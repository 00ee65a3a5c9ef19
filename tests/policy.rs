//! `verify --policy` and `policy lint`: the scenario table of the admission issue, every starter
//! policy in `policies/`, and bad policy files (exit 2, no decision).

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::{Value, json};

const POLICIES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/policies");

/// A workspace with the sample model packed at `v1`, the starter policies copied to
/// `policies/`, and a key pair for each name in `policies/keys/`.
fn setup(names: &[&str]) -> (Workspace, PathBuf) {
    let ws = Workspace::new();
    ws.pack("v1");
    let dir = ws.path("policies");
    copy_dir(Path::new(POLICIES), &dir);
    std::fs::create_dir_all(dir.join("keys")).unwrap();
    for name in names {
        let out = generate_key_pair(&dir.join("keys").join(name), "ecdsa-p256", "pw");
        assert!(out.status.success(), "{}", stderr(&out));
    }
    (ws, dir)
}

fn key(dir: &Path, name: &str) -> String {
    dir.join("keys")
        .join(format!("{name}.key"))
        .display()
        .to_string()
}

/// Runs `provenance <reference> <args…> --attest` signed with `signer`'s key, outside any
/// CI system unless `env` names one; it must succeed.
fn attest_provenance(
    dir: &Path,
    signer: &str,
    reference: &str,
    args: &[&str],
    env: &[(&str, &str)],
) {
    let out = modelseal()
        .arg("provenance")
        .arg(reference)
        .args(args)
        .args(["--attest", "--key", &key(dir, signer)])
        .env("COSIGN_PASSWORD", "pw")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITLAB_CI")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

/// Runs `verify --policy` with `--output json`; returns the exit code and the decision.
fn decide(policy: &Path, reference: &str, at: Option<&str>) -> (i32, Value) {
    let mut args = vec![
        "verify".to_string(),
        "--policy".to_string(),
        policy.display().to_string(),
        reference.to_string(),
        "--output".to_string(),
        "json".to_string(),
    ];
    if let Some(at) = at {
        args.extend(["--at".to_string(), at.to_string()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run(&args);
    let decision =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&out)));
    (out.status.code().unwrap(), decision)
}

fn write_policy(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn reasons(decision: &Value) -> String {
    decision["requirements"].to_string()
}

#[test]
fn thresholds_count_distinct_authorities() {
    let (ws, dir) = setup(&["alice", "bob", "carol"]);
    let layout = ws.layout_ref("v1");
    let policy = dir.join("two-person.yaml");
    ok(&["sign", "--key", &key(&dir, "alice"), &layout]);
    // The same key twice counts once.
    ok(&[
        "sign",
        "--key",
        &key(&dir, "alice"),
        "--format",
        "legacy",
        &layout,
    ]);
    let (code, decision) = decide(&policy, &layout, None);
    assert_eq!(code, 1, "{decision}");
    assert_eq!(decision["decision"], "reject");
    assert!(
        reasons(&decision).contains("1 of the 2 required"),
        "{decision}"
    );
    ok(&["sign", "--key", &key(&dir, "bob"), &layout]);
    let (code, decision) = decide(&policy, &layout, None);
    assert_eq!(code, 0, "{decision}");
    assert_eq!(
        decision["requirements"][0]["evidence"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // The release policy, with its own key.
    let (_, release_dir) = (0, dir.clone());
    let out = generate_key_pair(&release_dir.join("keys/release"), "ecdsa-p256", "pw");
    assert!(out.status.success());
    let (code, _) = decide(&dir.join("release.yaml"), &layout, None);
    assert_eq!(code, 1);
    ok(&["sign", "--key", &key(&dir, "release"), &layout]);
    let (code, decision) = decide(&dir.join("release.yaml"), &layout, None);
    assert_eq!(code, 0, "{decision}");
}

#[test]
fn attestations_need_an_allowed_signer_a_young_age_and_passing_rules() {
    let (ws, dir) = setup(&["ci", "scanner", "stranger"]);
    let layout = ws.layout_ref("v1");
    let github = [
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_REPOSITORY", "acme/models"),
        ("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567"),
        ("GITHUB_REF", "refs/heads/main"),
        ("GITHUB_RUN_ID", "7"),
        ("RUNNER_ENVIRONMENT", "github-hosted"),
    ];
    let provenance = |signer: &str, env: &[(&str, &str)], minutes_ago: i64| {
        let finished = jiff::Timestamp::now()
            .checked_sub(jiff::SignedDuration::from_mins(minutes_ago))
            .unwrap()
            .round(jiff::Unit::Second)
            .unwrap()
            .to_string();
        attest_provenance(&dir, signer, &layout, &["--finished-on", &finished], env);
    };
    let policy = dir.join("slsa-provenance.yaml");

    // Signed by an authority the requirement does not allow: no evidence.
    provenance("stranger", &github, 3);
    let (code, decision) = decide(&policy, &layout, None);
    assert_eq!(code, 1, "{decision}");
    assert!(reasons(&decision).contains("no https://slsa.dev/provenance/v1 attestation verifies"));

    // From an untrusted builder (self-hosted): the rule denies it.
    let mut self_hosted = github.to_vec();
    self_hosted.push(("RUNNER_ENVIRONMENT", "self-hosted"));
    provenance("ci", &self_hosted, 2);
    let (code, decision) = decide(&policy, &layout, None);
    assert_eq!(code, 1, "{decision}");
    assert!(reasons(&decision).contains("is not trusted"), "{decision}");

    // From the trusted builder and repository, newer: admitted.
    provenance("ci", &github, 1);
    let (code, decision) = decide(&policy, &layout, None);
    assert_eq!(code, 0, "{decision}");

    // A clean scan, young: admitted; evaluated eight days later: too old.
    ok(&["scan", &layout, "--attest", "--key", &key(&dir, "scanner")]);
    let scan_policy = dir.join("scan.yaml");
    let (code, decision) = decide(&scan_policy, &layout, None);
    assert_eq!(code, 0, "{decision}");
    let later = jiff::Timestamp::now()
        .checked_add(jiff::SignedDuration::from_hours(8 * 24))
        .unwrap()
        .round(jiff::Unit::Second)
        .unwrap()
        .to_string();
    let (code, decision) = decide(&scan_policy, &layout, Some(&later));
    assert_eq!(code, 1, "{decision}");
    assert!(
        reasons(&decision).contains("older than 604800 s"),
        "{decision}"
    );
}

#[test]
fn a_critical_finding_rejects_and_warn_mode_admits_with_warnings() {
    let (ws, dir) = setup(&["scanner"]);
    let layout = ws.layout_ref("v1");
    let now = jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .unwrap()
        .to_string();
    let flagged = json!({
        "scanner": {"uri": "https://example.com", "name": "x", "version": "1"},
        "metadata": {"scanStartedOn": now, "scanFinishedOn": now},
        "result": {"verdict": "flagged", "highestSeverity": "critical",
                   "counts": {"critical": 1, "high": 0, "medium": 0, "low": 0, "info": 0},
                   "layers": []},
    });
    let file = ws.path("flagged.json");
    std::fs::write(&file, flagged.to_string()).unwrap();
    ok(&[
        "attest",
        "--key",
        &key(&dir, "scanner"),
        "--type",
        "scan",
        "--predicate",
        file.to_str().unwrap(),
        &layout,
    ]);
    let (code, decision) = decide(&dir.join("scan.yaml"), &layout, None);
    assert_eq!(code, 1, "{decision}");
    assert!(
        reasons(&decision).contains("verdict is flagged"),
        "{decision}"
    );

    let warn = std::fs::read_to_string(dir.join("scan.yaml"))
        .unwrap()
        .replace("name: scanned", "name: scanned\n    mode: warn");
    let policy = write_policy(&dir, "scan-warn.yaml", &warn);
    let (code, decision) = decide(&policy, &layout, None);
    assert_eq!(code, 0, "{decision}");
    assert_eq!(decision["decision"], "admit");
    assert!(
        decision["warnings"].to_string().contains("failed"),
        "{decision}"
    );
}

#[test]
fn scopes_runtime_errors_and_evidence_about_other_digests() {
    let (ws, dir) = setup(&["release", "ci"]);
    let layout = ws.layout_ref("v1");
    ok(&["sign", "--key", &key(&dir, "release"), &layout]);

    // No scope covers the reference: rejected, unless the file says otherwise.
    let narrow = std::fs::read_to_string(dir.join("release.yaml"))
        .unwrap()
        .replace(
            "scopes: [\"**\"]",
            "scopes: [\"registry.example.com/models/*\"]",
        );
    let policy = write_policy(&dir, "narrow.yaml", &narrow);
    let (code, decision) = decide(&policy, &layout, None);
    assert_eq!(code, 1, "{decision}");
    assert!(
        reasons(&decision).contains("no policy covers"),
        "{decision}"
    );
    let policy = write_policy(
        &dir,
        "narrow-admit.yaml",
        &narrow.replace("version: 1", "version: 1\nnoMatch: admit"),
    );
    assert_eq!(decide(&policy, &layout, None).0, 0);

    // A rule that fails at runtime rejects, with the error in the reason.
    std::fs::write(
        dir.join("rules/broken.rego"),
        "package modelseal\n\ndeny contains msg if {\n\tto_number(\"not a number\") > 1\n\tmsg := \"never\"\n}\n",
    )
    .unwrap();
    let broken = std::fs::read_to_string(dir.join("slsa-provenance.yaml"))
        .unwrap()
        .replace("rules/provenance.rego", "rules/broken.rego");
    let policy = write_policy(&dir, "broken.yaml", &broken);
    let builder = ["--builder-id", "https://example.com/b"];
    attest_provenance(&dir, "ci", &layout, &builder, &[]);
    let (code, decision) = decide(&policy, &layout, None);
    assert_eq!(code, 1, "{decision}");
    assert!(
        reasons(&decision).contains("the rules failed"),
        "{decision}"
    );

    // A statement about another digest is no evidence: an attestation of another artifact
    // re-pointed at this one is rejected by verification and does not count.
    let other_dir = ws.path("other");
    copy_dir(&ws.model(), &other_dir);
    std::fs::write(other_dir.join("extra.md"), b"x").unwrap();
    let other = ws.layout_ref("other");
    assert!(ws.pack_dir(&other_dir, &other, &[]).status.success());
    let trusted = std::fs::read_to_string(dir.join("slsa-provenance.yaml"))
        .unwrap()
        .replace(
            "        rules: [rules/provenance.rego]\n        data: [data/trusted-builds.yaml]\n",
            "",
        );
    let policy = write_policy(&dir, "any-provenance.yaml", &trusted);
    let fresh = ws.path("fresh");
    let out = ws.pack_dir(&ws.model(), &format!("oci:{}:v1", fresh.display()), &[]);
    assert!(out.status.success());
    let fresh_ref = format!("oci:{}:v1", fresh.display());
    let builder = ["--builder-id", "https://example.com/b"];
    attest_provenance(&dir, "ci", &other, &builder, &[]);
    let store = modelseal::oci::LayoutStore::open(&ws.layout()).unwrap();
    use modelseal::oci::Store;
    let other_digest = store
        .resolve(&modelseal::reference::Target::tag("other"))
        .unwrap()
        .digest;
    let referrer = store.referrers(&other_digest, None).unwrap().remove(0);
    let bytes = store.fetch_manifest(&referrer).unwrap();
    let blob_digests: Vec<modelseal::oci::Descriptor> = {
        let manifest: modelseal::oci::ImageManifest = serde_json::from_slice(&bytes).unwrap();
        std::iter::once(manifest.config)
            .chain(manifest.layers)
            .collect()
    };
    let fresh_store = modelseal::oci::LayoutStore::open(&fresh).unwrap();
    for blob in &blob_digests {
        let mut reader = store.open_blob(blob).unwrap();
        fresh_store
            .push_blob(&mut reader, Some(&blob.digest))
            .unwrap();
    }
    let subject = fresh_store
        .resolve(&modelseal::reference::Target::tag("v1"))
        .unwrap();
    let mut manifest: Value = serde_json::from_slice(&bytes).unwrap();
    manifest["subject"] =
        json!({"mediaType": subject.media_type, "digest": subject.digest, "size": subject.size});
    let rewritten = serde_json::to_vec(&manifest).unwrap();
    fresh_store
        .push_manifest(modelseal::oci::ManifestPush {
            bytes: &rewritten,
            media_type: "application/vnd.oci.image.manifest.v1+json",
            artifact_type: Some("application/vnd.dev.sigstore.bundle.v0.3+json"),
            tag: None,
            condition: modelseal::oci::TagCondition::Always,
        })
        .unwrap();
    let (code, decision) = decide(&policy, &fresh_ref, None);
    assert_eq!(code, 1, "{decision}");
    assert!(
        decision["requirements"][0]["evidence"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn hygiene_rules_judge_the_modelpack_itself() {
    let (ws, dir) = setup(&[]);
    let layout = ws.layout_ref("v1");
    let (code, decision) = decide(&dir.join("hygiene.yaml"), &layout, None);
    assert_eq!(code, 0, "{decision}");
    // A weight in another format, and a guessed media type.
    let model = ws.path("pickled");
    copy_dir(&ws.model(), &model);
    std::fs::write(model.join("extra.pt"), b"\x80\x02}q\x00.").unwrap();
    std::fs::write(model.join("notes.xyz"), b"?").unwrap();
    let other = ws.layout_ref("pickled");
    let out = ws.pack_dir(&model, &other, &["--weight", "*.pt", "--unknown-as", "doc"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (code, decision) = decide(&dir.join("hygiene.yaml"), &other, None);
    assert_eq!(code, 1, "{decision}");
    let text = reasons(&decision);
    assert!(
        text.contains("extra.pt: weights must be safetensors or gguf"),
        "{text}"
    );
    assert!(
        text.contains("notes.xyz: its media type was guessed"),
        "{text}"
    );
}

#[test]
fn decisions_are_the_same_byte_for_byte() {
    let (ws, dir) = setup(&["release"]);
    let layout = ws.layout_ref("v1");
    ok(&["sign", "--key", &key(&dir, "release"), &layout]);
    let at = "2026-12-01T00:00:00Z";
    let run_once = || {
        run(&[
            "verify",
            "--policy",
            dir.join("release.yaml").to_str().unwrap(),
            &layout,
            "--output",
            "json",
            "--at",
            at,
        ])
        .stdout
    };
    assert_eq!(run_once(), run_once());
}

#[test]
fn bad_policies_are_errors_and_decide_nothing() {
    let (ws, dir) = setup(&["alice"]);
    let layout = ws.layout_ref("v1");
    let base = "version: 1\npolicies:\n  - name: p\n    scopes: [\"**\"]\n    authorities:\n      - name: alice\n        key: {path: keys/alice.pub}\n";
    std::fs::write(
        dir.join("rules/warn-only.rego"),
        "package modelseal\n\ndenny contains msg if {\n\tmsg := \"typo\"\n}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("rules/syntax.rego"),
        "package modelseal\n\ndeny contains msg if {\n\tmsg := \n}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("rules/loop.rego"),
        "package modelseal\n\ndeny contains msg if {\n\tsome i in numbers.range(1, 5000)\n\tsome j in numbers.range(1, 5000)\n\ti * j < 0\n\tmsg := \"x\"\n}\n",
    )
    .unwrap();
    let cases = [
        (format!("{base}    signatures: {{threshold: 1, colour: red}}\n"), "unknown field"),
        (format!("{base}    signatures: {{threshold: 2}}\n"), "only 1 authorities"),
        (format!("{base}      - name: alice\n        key: {{path: keys/alice.pub}}\n"), "used twice"),
        ("version: 1\npolicies:\n  - name: p\n    scopes: [\"reg/[\"]\n".to_string(), "not a glob"),
        (format!("{base}    attestations:\n      - type: scan\n        rules: [rules/syntax.rego]\n"), "syntax.rego"),
        ("version: 1\npolicies:\n  - name: p\n    scopes: [\"**\"]\n    authorities:\n      - name: k\n        keyless: {issuer: https://token.actions.githubusercontent.com}\n".to_string(), "keyless"),
        ("version: 2\npolicies: []\n".to_string(), "version 2"),
        (
            "version: 1\npolicies:\n  - name: p\n    scopes: [\"**\"]\n    authorities:\n      - name: k\n        keyless: {issuer: https://token.actions.githubusercontent.com, subjectRegExp: \"([a-z\"}\n    signatures: {threshold: 1}\n".to_string(),
            "not a regular expression",
        ),
        (
            format!("{base}      - name: alias\n        key: {{path: keys/alice.pub}}\n    signatures: {{threshold: 2}}\n"),
            "are the same key",
        ),
        (
            format!("{base}    signatures: {{threshold: 1, authorities: [alice, alice]}}\n"),
            "twice",
        ),
        (base.to_string(), "requires nothing"),
        (
            format!("{base}    attestations:\n      - type: scan\n        rules: [rules/warn-only.rego]\n"),
            "no deny rule",
        ),
    ];
    for (text, needle) in cases {
        let policy = write_policy(&dir, "bad.yaml", &text);
        let out = run(&["verify", "--policy", policy.to_str().unwrap(), &layout]);
        assert_fails(&out, 2, needle);
        assert!(stdout(&out).is_empty(), "no decision: {}", stdout(&out));
        let out = run(&["policy", "lint", policy.to_str().unwrap()]);
        assert_fails(&out, 2, needle);
    }
    // A 50 MiB policy file.
    let huge = dir.join("huge.yaml");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(50 << 20)
        .unwrap();
    let out = run(&["verify", "--policy", huge.to_str().unwrap(), &layout]);
    assert_fails(&out, 2, "larger than");
    // A rule that runs too long is stopped by the evaluation limit: no decision.
    let policy = write_policy(
        &dir,
        "loop.yaml",
        &format!("{base}    attestations:\n      - type: scan\n        rules: [rules/loop.rego]\n"),
    );
    ok(&["policy", "lint", policy.to_str().unwrap()]);
    ok(&["scan", &layout, "--attest", "--key", &key(&dir, "alice")]);
    let out = run(&["verify", "--policy", policy.to_str().unwrap(), &layout]);
    assert_fails(&out, 2, "evaluation limit");
    assert!(stdout(&out).is_empty(), "no decision: {}", stdout(&out));
}

#[test]
fn starter_policies_follow_the_published_schema() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/policy-v1.schema.json"
    ))
    .unwrap();
    let schema: Value = serde_json::from_str(&text).unwrap();
    let validator = jsonschema::options().build(&schema).unwrap();
    let mut checked = 0;
    for entry in std::fs::read_dir(POLICIES).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let policy: Value =
            serde_saphyr::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&policy)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
        checked += 1;
    }
    assert_eq!(checked, 5);
    let bad = json!({"version": 1, "policies": [{"name": "p", "scopes": ["**"], "colour": 1}]});
    assert!(validator.iter_errors(&bad).next().is_some());
}

#[test]
fn a_key_authority_can_require_a_transparency_log_entry() {
    let (ws, dir) = setup(&["alice"]);
    let layout = ws.layout_ref("v1");
    ok(&["sign", "--key", &key(&dir, "alice"), &layout]);
    ok(&[
        "sign",
        "--key",
        &key(&dir, "alice"),
        "--format",
        "legacy",
        &layout,
    ]);
    let policy = |key_fields: &str| {
        write_policy(
            &dir,
            "logged.yaml",
            &format!(
                "version: 1\npolicies:\n  - name: p\n    scopes: [\"**\"]\n    authorities:\n      - name: alice\n        key: {{path: keys/alice.pub{key_fields}}}\n    signatures: {{threshold: 1}}\n"
            ),
        )
    };
    // Offline signatures are the key's alone: enough by default.
    assert_eq!(decide(&policy(""), &layout, None).0, 0);
    // Required, their missing entries reject both, each with the reason.
    let (code, decision) = decide(&policy(", requireLog: true"), &layout, None);
    assert_eq!(code, 1, "{decision}");
    assert_eq!(
        reasons(&decision)
            .matches("it carries no transparency log entry, and one is required")
            .count(),
        2,
        "{decision}"
    );
    let out = run(&[
        "policy",
        "lint",
        policy(", requireLog: maybe").to_str().unwrap(),
    ]);
    assert_fails(&out, 2, "requireLog");
}

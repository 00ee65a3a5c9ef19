//! `provenance`: SLSA provenance v1 from GitHub Actions' and GitLab CI's environment or from
//! flags, printed and attached, and verified as typed provenance.

mod common;

use common::*;
use modelseal::oci::Digest;
use serde_json::Value;

const CI_VARIABLES: [&str; 2] = ["GITHUB_ACTIONS", "GITLAB_CI"];

fn provenance(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut command = modelseal();
    command
        .arg("provenance")
        .args(args)
        .env("COSIGN_PASSWORD", "pw");
    for name in CI_VARIABLES {
        command.env_remove(name);
    }
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().unwrap()
}

const GITHUB: [(&str, &str); 8] = [
    ("GITHUB_ACTIONS", "true"),
    ("GITHUB_SERVER_URL", "https://github.com"),
    ("GITHUB_REPOSITORY", "acme/models"),
    ("GITHUB_REF", "refs/tags/v1"),
    ("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567"),
    ("GITHUB_RUN_ID", "42"),
    ("GITHUB_RUN_ATTEMPT", "1"),
    (
        "GITHUB_WORKFLOW_REF",
        "acme/models/.github/workflows/release.yml@refs/tags/v1",
    ),
];

#[test]
fn provenance_from_github_actions_is_attached_and_verifies() {
    let ws = Workspace::new();
    ws.pack("v1");
    let layout = ws.layout_ref("v1");
    let (key, public) = keys(&ws, "signer");
    let modelfile = ws.path("Modelfile");
    std::fs::write(&modelfile, "FROM ./model\n").unwrap();
    let base = Digest::sha256_of(b"base model weights");
    let out = provenance(
        &[
            &layout,
            "--dir",
            "models/tiny",
            "--modelfile",
            modelfile.to_str().unwrap(),
            "--material",
            &format!("hf://acme/base@{base}"),
            "--started-on",
            "2026-12-01T10:00:00Z",
            "--attest",
            "--key",
            key.to_str().unwrap(),
        ],
        &GITHUB,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let definition = &printed["buildDefinition"];
    assert_eq!(
        definition["buildType"],
        "https://modelseal.dev/buildtypes/modelpack/v1"
    );
    let external = &definition["externalParameters"];
    assert_eq!(
        external["source"]["repository"],
        "https://github.com/acme/models"
    );
    assert_eq!(
        external["workflow"]["path"],
        ".github/workflows/release.yml"
    );
    assert_eq!(external["directory"]["path"], "models/tiny");
    assert_eq!(external["buildFile"]["kind"], "Modelfile");
    assert_eq!(
        external["buildFile"]["digest"]["sha256"],
        Digest::sha256_of(b"FROM ./model\n").hex()
    );
    let dependencies = definition["resolvedDependencies"].as_array().unwrap();
    assert_eq!(
        dependencies[0]["uri"],
        "git+https://github.com/acme/models@refs/tags/v1"
    );
    assert_eq!(
        dependencies[0]["digest"]["gitCommit"],
        "0123456789abcdef0123456789abcdef01234567"
    );
    assert_eq!(dependencies[1]["uri"], "hf://acme/base");
    assert_eq!(dependencies[1]["digest"]["sha256"], base.hex());
    let run = &printed["runDetails"];
    assert_eq!(
        run["builder"]["id"],
        "https://github.com/actions/runner/github-hosted"
    );
    assert_eq!(
        run["metadata"]["invocationId"],
        "https://github.com/acme/models/actions/runs/42/attempts/1"
    );
    assert_eq!(run["metadata"]["startedOn"], "2026-12-01T10:00:00Z");
    assert!(
        run["metadata"]["finishedOn"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );

    // The directory digest names the packed files: recomputed here from the ModelPack.
    let inspected: Value =
        serde_json::from_str(&ok(&["inspect", &layout, "--output", "json"])).unwrap();
    let mut lines: Vec<(String, String)> = inspected["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["filepath"].as_str().unwrap().to_string(),
                format!(
                    "{} {}\n",
                    l["digest"].as_str().unwrap(),
                    l["filepath"].as_str().unwrap()
                ),
            )
        })
        .collect();
    lines.sort();
    let listing: String = lines.into_iter().map(|(_, line)| line).collect();
    assert_eq!(
        external["directory"]["digest"]["sha256"],
        Digest::sha256_of(listing.as_bytes()).hex()
    );

    let report: Value = serde_json::from_str(&ok(&[
        "verify-attestation",
        "--key",
        public.to_str().unwrap(),
        "--type",
        "slsaprovenance1",
        &layout,
        "--output",
        "json",
    ]))
    .unwrap();
    assert_eq!(report["attestations"][0]["statement"]["predicate"], printed);
}

#[test]
fn provenance_from_gitlab_ci() {
    let ws = Workspace::new();
    ws.pack("v1");
    let out = provenance(
        &[&ws.layout_ref("v1")],
        &[
            ("GITLAB_CI", "true"),
            ("CI_SERVER_URL", "https://gitlab.example.com"),
            ("CI_RUNNER_ID", "7"),
            (
                "CI_JOB_URL",
                "https://gitlab.example.com/acme/models/-/jobs/99",
            ),
            ("CI_PROJECT_URL", "https://gitlab.example.com/acme/models"),
            ("CI_COMMIT_TAG", "v1"),
            ("CI_COMMIT_SHA", "abc123"),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        printed["runDetails"]["builder"]["id"],
        "https://gitlab.example.com/-/runners/7"
    );
    assert_eq!(
        printed["runDetails"]["metadata"]["invocationId"],
        "https://gitlab.example.com/acme/models/-/jobs/99"
    );
    assert_eq!(
        printed["buildDefinition"]["externalParameters"]["source"]["ref"],
        "refs/tags/v1"
    );
    assert_eq!(
        printed["buildDefinition"]["internalParameters"]["ci"],
        "gitlab-ci"
    );
}

#[test]
fn provenance_outside_ci_needs_a_builder_and_pinned_materials() {
    let ws = Workspace::new();
    ws.pack("v1");
    let layout = ws.layout_ref("v1");
    let (key, _) = keys(&ws, "signer");
    let before = snapshot(&ws.layout());
    let out = provenance(&[&layout, "--attest", "--key", key.to_str().unwrap()], &[]);
    assert_fails(&out, 2, "--builder-id");
    let builder = ["--builder-id", "https://builder.example.com/ml-team"];
    let out = provenance(
        &[
            &layout,
            builder[0],
            builder[1],
            "--material",
            "hf://acme/base",
        ],
        &[],
    );
    assert_fails(&out, 2, "not pinned");
    let out = provenance(
        &[&layout, builder[0], builder[1], "--started-on", "yesterday"],
        &[],
    );
    assert_fails(&out, 2, "RFC 3339");
    assert_eq!(snapshot(&ws.layout()), before, "nothing was attached");

    // An OCI reference as a material is pinned by resolving it.
    let base = ws.pack("base");
    let out = provenance(
        &[
            &layout,
            builder[0],
            builder[1],
            "--material",
            &ws.layout_ref("base"),
        ],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let material = &printed["buildDefinition"]["resolvedDependencies"][0];
    assert_eq!(material["uri"], ws.layout_ref("base"));
    assert_eq!(
        material["digest"]["sha256"],
        base.trim_start_matches("sha256:")
    );
    assert_eq!(printed["runDetails"]["builder"]["id"], builder[1]);
}

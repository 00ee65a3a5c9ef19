//! Every command on a real registry (Debian's docker-registry, started per test on loopback),
//! and copies between registries and layouts that keep every signature verifiable.

mod common;

use common::proxy::{Fault, FaultProxy};
use common::registry::Registry;
use common::*;
use modelseal::oci::{ImageIndex, RegistryOptions, RegistryStore, Store};
use modelseal::reference::Target;
use modelseal::signature::{bundle, legacy};
use serde_json::Value;

#[test]
fn the_main_job_works_on_a_registry() {
    let registry = Registry::start();
    let ws = Workspace::new();
    let layout_digest = ws.pack("v1");
    let reference = format!("{}:v1", registry.reference("models/tiny"));
    let pushed = ws.pack_dir(&ws.model(), &reference, &[]);
    assert!(pushed.status.success(), "{}", stderr(&pushed));
    assert!(
        stdout(&pushed).trim().ends_with(&layout_digest),
        "the same files pack to the same digest"
    );

    let inspected: Value =
        serde_json::from_str(&ok(&["inspect", &reference, "--output", "json"])).unwrap();
    assert_eq!(inspected["digest"], layout_digest);
    assert_eq!(inspected["family"], "cncf");

    let (key, public) = keys(&ws, "signer");
    let key = key.to_str().unwrap();
    let public = public.to_str().unwrap();
    ok(&["sign", "--key", key, &reference]);
    ok(&["sign", "--key", key, "--format", "legacy", &reference]);
    let report = ok(&["verify", "--key", public, &reference]);
    assert!(report.contains("2 of 2 signatures verified"), "{report}");
    let tree: Value = serde_json::from_str(&ok(&["tree", &reference, "--output", "json"])).unwrap();
    assert_eq!(tree["referrers"][0]["artifactType"], bundle::MEDIA_TYPE);
    assert!(tree["tags"][0]["tag"].as_str().unwrap().ends_with(".sig"));

    // skopeo reads what was pushed, byte for byte.
    assert_eq!(skopeo_raw(&reference), layout_blob(&ws, &layout_digest));
}

/// The manifest bytes `skopeo inspect --raw` reads from a registry.
fn skopeo_raw(reference: &str) -> Vec<u8> {
    let raw = std::process::Command::new("skopeo")
        .args([
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{reference}"),
        ])
        .output()
        .expect("skopeo is required (.ci/run installs it)");
    assert!(raw.status.success(), "{}", stderr(&raw));
    raw.stdout
}

fn layout_blob(ws: &Workspace, digest: &str) -> Vec<u8> {
    std::fs::read(
        ws.layout()
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:")),
    )
    .unwrap()
}

#[test]
fn the_referrers_index_carries_artifact_type_and_annotations() {
    let registry = Registry::start();
    let ws = Workspace::new();
    let reference = format!("{}:v1", registry.reference("models/tiny"));
    assert!(ws.pack_dir(&ws.model(), &reference, &[]).status.success());
    let (key, _) = keys(&ws, "signer");
    let referrer = ok(&["sign", "--key", key.to_str().unwrap(), &reference]);
    let store =
        RegistryStore::open(&registry.addr, "models/tiny", &RegistryOptions::default()).unwrap();
    let subject = store.resolve(&Target::tag("v1")).unwrap();
    let index_tag = format!("sha256-{}", subject.digest.hex());
    let index_descriptor = store.resolve(&Target::tag(&index_tag)).unwrap();
    let index: ImageIndex =
        serde_json::from_slice(&store.fetch_manifest(&index_descriptor).unwrap()).unwrap();
    assert_eq!(index.manifests.len(), 1);
    let entry = &index.manifests[0];
    assert_eq!(entry.digest.to_string(), referrer.trim());
    assert_eq!(entry.artifact_type.as_deref(), Some(bundle::MEDIA_TYPE));
    let annotations = entry.annotations.as_ref().unwrap();
    assert_eq!(
        annotations["dev.sigstore.bundle.predicateType"],
        "https://sigstore.dev/cosign/sign/v1"
    );
    assert!(annotations.contains_key("org.opencontainers.image.created"));
}

#[test]
fn a_referrer_listed_under_another_subject_does_not_count() {
    let registry = Registry::start();
    let ws = Workspace::new();
    let signed = format!("{}:signed", registry.reference("models/tiny"));
    let other_dir = ws.path("other");
    copy_dir(&ws.model(), &other_dir);
    std::fs::write(other_dir.join("extra.md"), b"x").unwrap();
    let unsigned = format!("{}:unsigned", registry.reference("models/tiny"));
    assert!(ws.pack_dir(&ws.model(), &signed, &[]).status.success());
    assert!(ws.pack_dir(&other_dir, &unsigned, &[]).status.success());
    let (key, public) = keys(&ws, "signer");
    ok(&["sign", "--key", key.to_str().unwrap(), &signed]);
    // Copy the signed artifact's referrers index to the unsigned artifact's index tag.
    let store =
        RegistryStore::open(&registry.addr, "models/tiny", &RegistryOptions::default()).unwrap();
    let signed_digest = store.resolve(&Target::tag("signed")).unwrap().digest;
    let unsigned_digest = store.resolve(&Target::tag("unsigned")).unwrap().digest;
    let index = store
        .resolve(&Target::tag(&format!("sha256-{}", signed_digest.hex())))
        .unwrap();
    let bytes = store.fetch_manifest(&index).unwrap();
    store
        .push_manifest(modelseal::oci::ManifestPush {
            bytes: &bytes,
            media_type: "application/vnd.oci.image.index.v1+json",
            artifact_type: None,
            tag: Some(&format!("sha256-{}", unsigned_digest.hex())),
            condition: modelseal::oci::TagCondition::Always,
        })
        .unwrap();
    let out = run(&["verify", "--key", public.to_str().unwrap(), &unsigned]);
    assert_fails(&out, 1, "has no signatures");
}

#[test]
fn copies_keep_every_signature_verifiable() {
    let registry = Registry::start();
    let ws = Workspace::new();
    let digest = ws.pack("v1");
    let (key, public) = keys(&ws, "signer");
    let (key, public) = (key.to_str().unwrap(), public.to_str().unwrap());
    let layout = ws.layout_ref("v1");
    ok(&["sign", "--key", key, &layout]);
    ok(&["sign", "--key", key, "--format", "legacy", &layout]);

    let remote = format!("{}:v1", registry.reference("models/tiny"));
    ok(&["push", &layout, &remote]);
    assert_eq!(skopeo_raw(&remote), layout_blob(&ws, &digest));
    assert!(ok(&["verify", "--key", public, &remote]).contains("2 of 2 signatures verified"));
    let promoted = format!("{}:prod", registry.reference("prod/tiny"));
    let copied: Value =
        serde_json::from_str(&ok(&["copy", &remote, &promoted, "--output", "json"])).unwrap();
    assert_eq!(copied["bytes"], 0, "every blob was mounted: {copied}");
    assert!(ok(&["verify", "--key", public, &promoted]).contains("2 of 2 signatures verified"));
    let back = format!("oci:{}:back", ws.path("pulled").display());
    ok(&["pull", &promoted, &back]);
    assert!(ok(&["verify", "--key", public, &back]).contains("2 of 2 signatures verified"));
    ok(&["inspect", &back]);

    // A second signature made at the destination survives another copy from the source.
    let (other_key, other_public) = keys(&ws, "second");
    ok(&[
        "sign",
        "--key",
        other_key.to_str().unwrap(),
        "--format",
        "legacy",
        &promoted,
    ]);
    ok(&["copy", &remote, &promoted]);
    assert!(
        ok(&["verify", "--key", other_public.to_str().unwrap(), &promoted]).contains("verified")
    );
    assert!(ok(&["verify", "--key", public, &promoted]).contains("verified"));
    let store =
        RegistryStore::open(&registry.addr, "prod/tiny", &RegistryOptions::default()).unwrap();
    let subject = store.resolve(&Target::tag("prod")).unwrap();
    let sig = store
        .resolve(&Target::tag(&legacy::signature_tag(&subject.digest)))
        .unwrap();
    let manifest: modelseal::oci::ImageManifest =
        serde_json::from_slice(&store.fetch_manifest(&sig).unwrap()).unwrap();
    assert_eq!(manifest.layers.len(), 2);
}

#[test]
fn concurrent_signers_on_a_registry_keep_every_signature() {
    let registry = Registry::start();
    let ws = Workspace::new();
    let reference = format!("{}:v1", registry.reference("models/tiny"));
    assert!(ws.pack_dir(&ws.model(), &reference, &[]).status.success());
    let names: Vec<String> = (0..8).map(|i| format!("k{i}")).collect();
    for name in &names {
        keys(&ws, name);
    }
    for format in ["bundle", "legacy"] {
        run_together(
            names
                .iter()
                .map(|name| {
                    vec![
                        "sign".into(),
                        "--format".into(),
                        format.into(),
                        "--key".into(),
                        ws.path(&format!("{name}.key")).into(),
                        reference.clone().into(),
                    ]
                })
                .collect(),
        );
    }
    for name in &names {
        let public = ws.path(&format!("{name}.pub"));
        let report = ok(&["verify", "--key", public.to_str().unwrap(), &reference]);
        assert!(
            report.contains("2 of 16 signatures verified"),
            "{name}: {report}"
        );
    }
}

#[test]
fn credentials_come_from_the_docker_config() {
    let registry = Registry::start_with_password("alice", "s3cret");
    let ws = Workspace::new();
    let reference = format!("{}:v1", registry.reference("models/tiny"));
    let pack = |config: &std::path::Path| {
        modelseal()
            .arg("pack")
            .arg(ws.model())
            .arg(&reference)
            .env("DOCKER_CONFIG", config)
            .output()
            .unwrap()
    };
    let none = ws.path("no-config");
    std::fs::create_dir(&none).unwrap();
    let out = pack(&none);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains(&registry.addr), "{}", stderr(&out));
    let wrong = ws.path("wrong");
    registry.docker_config(&wrong, "alice", "guess");
    assert_eq!(pack(&wrong).status.code(), Some(2));
    let right = ws.path("right");
    registry.docker_config(&right, "alice", "s3cret");
    let out = pack(&right);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = modelseal()
        .args(["inspect", &reference])
        .env("DOCKER_CONFIG", &right)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("s3cret") && !stdout(&out).contains("s3cret"));
}

/// The requests `verify` makes for k signatures, counted at the registry: resolve, the
/// referrers API (which this registry answers 404) and the tag-schema index, the legacy tag,
/// then one manifest and one blob per bundle signature and one blob per legacy one. Nothing
/// else: no `GET /v2/` probe.
#[test]
fn verify_makes_few_requests() {
    let registry = Registry::start();
    let ws = Workspace::new();
    let reference = format!("{}:v1", registry.reference("models/tiny"));
    assert!(ws.pack_dir(&ws.model(), &reference, &[]).status.success());
    let (key, public) = keys(&ws, "signer");
    let key = key.to_str().unwrap();
    for i in 0..3 {
        ok(&["sign", "--key", key, "-a", &format!("n={i}"), &reference]);
        ok(&[
            "sign",
            "--key",
            key,
            "--format",
            "legacy",
            "-a",
            &format!("n={i}"),
            &reference,
        ]);
    }
    let before = registry.requests().len();
    let report = ok(&["verify", "--key", public.to_str().unwrap(), &reference]);
    assert!(report.contains("6 of 6 signatures verified"), "{report}");
    let requests: Vec<String> = registry.requests().into_iter().skip(before).collect();
    let k = 6;
    println!(
        "verify of {k} signatures: {} requests: {requests:#?}",
        requests.len()
    );
    assert!(
        requests.len() <= 3 + 2 * k,
        "{} requests: {requests:#?}",
        requests.len()
    );
    assert!(
        requests
            .iter()
            .all(|r| r.starts_with("GET ") && !r.starts_with("GET /v2/ ")),
        "verify only reads, and probes nothing: {requests:#?}"
    );
}

#[test]
fn empty_files_pack_and_copy_to_a_registry() {
    let registry = Registry::start();
    let ws = Workspace::new();
    std::fs::write(ws.model().join("EMPTY.md"), b"").unwrap();
    let digest = ws.pack("v1");
    let direct = format!("{}:v1", registry.reference("direct/tiny"));
    let out = ws.pack_dir(&ws.model(), &direct, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let copied = format!("{}:v1", registry.reference("copied/tiny"));
    ok(&["copy", &ws.layout_ref("v1"), &copied]);
    for reference in [direct, copied] {
        let json: Value =
            serde_json::from_str(&ok(&["inspect", &reference, "--output", "json"])).unwrap();
        assert_eq!(json["digest"], digest);
        let empty = json["layers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["filepath"] == "EMPTY.md")
            .cloned()
            .unwrap();
        assert_eq!(empty["size"], 0);
    }
}

/// A copy of the sample model whose weights are 3 MiB, so that uploads take many writes.
fn big_model(ws: &Workspace) -> std::path::PathBuf {
    let dir = ws.path("big");
    copy_dir(&ws.model(), &dir);
    let weights: Vec<u8> = (0..3u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(dir.join("model.safetensors"), weights).unwrap();
    dir
}

/// Packs the big model into the workspace layout and signs it in both formats there.
fn signed_big_layout(ws: &Workspace) -> (String, std::path::PathBuf) {
    let layout = ws.layout_ref("big");
    let out = ws.pack_dir(&big_model(ws), &layout, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (key, public) = keys(ws, "signer");
    ok(&["sign", "--key", key.to_str().unwrap(), &layout]);
    ok(&[
        "sign",
        "--key",
        key.to_str().unwrap(),
        "--format",
        "legacy",
        &layout,
    ]);
    (layout, public)
}

#[test]
fn a_copy_survives_a_connection_cut_in_the_middle_of_an_upload() {
    let registry = Registry::start();
    let ws = Workspace::new();
    let (layout, public) = signed_big_layout(&ws);
    let proxy = FaultProxy::start(
        &registry.addr,
        Fault::CutUpload {
            bytes: 1 << 20,
            then_refuse: false,
        },
    );
    ok(&[
        "copy",
        &layout,
        &format!("{}:v1", proxy.reference("models/big")),
    ]);
    assert!(proxy.struck(), "the upload was cut");
    let direct = format!("{}:v1", registry.reference("models/big"));
    let report = ok(&["verify", "--key", public.to_str().unwrap(), &direct]);
    assert!(report.contains("2 of 2 signatures verified"), "{report}");
}

#[test]
fn a_registry_that_goes_away_mid_upload_is_left_without_tags_or_referrers() {
    let registry = Registry::start();
    let ws = Workspace::new();
    let (layout, _) = signed_big_layout(&ws);
    for args in [
        vec!["pack".to_string(), big_model(&ws).display().to_string()],
        vec!["copy".to_string(), layout.clone()],
    ] {
        let proxy = FaultProxy::start(
            &registry.addr,
            Fault::CutUpload {
                bytes: 1 << 20,
                then_refuse: true,
            },
        );
        let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
        let destination = format!("{}:v1", proxy.reference("models/big"));
        args.push(&destination);
        let out = run(&args);
        assert_fails(&out, 2, "try again later");
        assert!(proxy.struck());
    }
    let store =
        RegistryStore::open(&registry.addr, "models/big", &RegistryOptions::default()).unwrap();
    assert_eq!(store.tags().unwrap(), Vec::<String>::new());
}

#[test]
fn answers_of_503_are_waited_out() {
    let registry = Registry::start();
    let ws = Workspace::new();
    let proxy = FaultProxy::start(&registry.addr, Fault::Unavailable { connections: 4 });
    let reference = format!("{}:v1", proxy.reference("models/tiny"));
    let out = ws.pack_dir(&ws.model(), &reference, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(proxy.struck());
    let (key, public) = keys(&ws, "signer");
    ok(&["sign", "--key", key.to_str().unwrap(), &reference]);
    let report = ok(&["verify", "--key", public.to_str().unwrap(), &reference]);
    assert!(report.contains("1 of 1 signatures verified"), "{report}");
}

#[test]
fn a_registry_with_a_private_certificate_authority_needs_ca_cert() {
    let ws = Workspace::new();
    let certs = ws.path("certs");
    std::fs::create_dir_all(&certs).unwrap();
    let (registry, authority) = Registry::start_with_tls(&certs);
    let reference = format!("{}:v1", registry.reference("models/tiny"));
    let model = ws.model();
    let model = model.to_str().unwrap();

    // Without the authority: the certificate is not trusted, and TLS is not dropped for it.
    let out = run(&["pack", model, &reference]);
    assert_fails(&out, 2, "certificate is not trusted");
    assert_fails(&out, 2, "--ca-cert");
    // Plain HTTP to a port that speaks TLS does not get through either.
    let out = run(&["--plain-http", &registry.addr, "pack", model, &reference]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));

    let ca = authority.to_str().unwrap();
    ok(&["pack", "--ca-cert", ca, model, &reference]);
    let (key, public) = keys(&ws, "signer");
    ok(&[
        "sign",
        "--ca-cert",
        ca,
        "--key",
        key.to_str().unwrap(),
        &reference,
    ]);
    let report = ok(&[
        "verify",
        "--ca-cert",
        ca,
        "--key",
        public.to_str().unwrap(),
        &reference,
    ]);
    assert!(report.contains("1 of 1 signatures verified"), "{report}");
    let requests = registry.requests();
    assert!(
        requests.iter().any(|r| r.starts_with("PUT ")),
        "{requests:#?}"
    );

    // A file with no certificate in it is refused clearly.
    let out = run(&["inspect", "--ca-cert", model, &reference]);
    assert_fails(&out, 2, "certificate");
}

#[test]
fn a_blob_that_is_not_what_its_digest_says_is_not_stored() {
    let registry = Registry::start();
    let store =
        RegistryStore::open(&registry.addr, "models/tiny", &RegistryOptions::default()).unwrap();
    let content = vec![1u8; 3 << 20];
    let claimed = modelseal::oci::Digest::sha256_of(b"something else");
    for size in [content.len() as u64, 10] {
        let result = store.push_known_blob(&mut content.as_slice(), &claimed, size);
        assert!(result.is_err(), "size {size}: {result:?}");
    }
    assert!(!store.has_blob(&claimed).unwrap());
    assert!(
        !store
            .has_blob(&modelseal::oci::Digest::sha256_of(&content))
            .unwrap()
    );
}

/// Deletes a manifest from a docker-registry by digest (its delete API, enabled in the tests).
fn delete_manifest(registry: &Registry, repository: &str, digest: &str) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(&registry.addr).unwrap();
    write!(
        stream,
        "DELETE /v2/{repository}/manifests/{digest} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        registry.addr
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 202"), "{answer}");
}

#[test]
fn a_referrer_whose_manifest_is_gone_is_skipped_and_then_dropped() {
    let registry = Registry::start();
    let ws = Workspace::new();
    let reference = format!("{}:v1", registry.reference("models/tiny"));
    assert!(ws.pack_dir(&ws.model(), &reference, &[]).status.success());
    let (key, public) = keys(&ws, "signer");
    let (key, public) = (key.to_str().unwrap(), public.to_str().unwrap());
    let gone = ok(&["sign", "--key", key, &reference]);
    ok(&["sign", "--key", key, "-a", "n=2", &reference]);
    delete_manifest(&registry, "models/tiny", gone.trim());

    let report = ok(&["verify", "--key", public, &reference]);
    assert!(report.contains("1 of 1 signatures verified"), "{report}");
    // The registry refuses an index naming a manifest it lacks; the next signer drops it.
    ok(&["sign", "--key", key, "-a", "n=3", &reference]);
    let report = ok(&["verify", "--key", public, &reference]);
    assert!(report.contains("2 of 2 signatures verified"), "{report}");
    let store =
        RegistryStore::open(&registry.addr, "models/tiny", &RegistryOptions::default()).unwrap();
    let subject = store.resolve(&Target::tag("v1")).unwrap();
    let index = store
        .resolve(&Target::tag(&format!("sha256-{}", subject.digest.hex())))
        .unwrap();
    let index: ImageIndex = serde_json::from_slice(&store.fetch_manifest(&index).unwrap()).unwrap();
    assert_eq!(index.manifests.len(), 2, "{index:?}");
    assert!(
        index
            .manifests
            .iter()
            .all(|m| m.digest.to_string() != gone.trim())
    );
}

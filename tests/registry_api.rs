//! The registry paths Debian's docker-registry cannot show, on a small in-test registry: the
//! referrers API, bearer tokens, cross-repository mounts, and registries that misbehave.

mod common;

use common::fake_registry::{Behaviour, FakeRegistry};
use common::*;
use modelseal::oci::{
    Descriptor, ManifestPush, RegistryOptions, RegistryStore, Store, TagCondition,
};
use modelseal::reference::Target;
use modelseal::signature::bundle;
use serde_json::Value;

fn store(registry: &FakeRegistry, repository: &str) -> RegistryStore {
    RegistryStore::open(&registry.addr, repository, &RegistryOptions::default()).unwrap()
}

/// Packs the sample model to `REGISTRY/repository:v1` and returns the reference.
fn packed(ws: &Workspace, registry: &FakeRegistry, repository: &str) -> String {
    let reference = format!("{}:v1", registry.reference(repository));
    let out = ws.pack_dir(&ws.model(), &reference, &[]);
    assert!(out.status.success(), "{:?} {}", out.status, stderr(&out));
    reference
}

/// A referrer of `subject` with an artifact type of its own, pushed through the library.
fn push_other_referrer(store: &RegistryStore, subject: &Descriptor) -> String {
    let empty = store.push_blob(&mut &b"{}"[..], None).unwrap();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/example.other",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty.0, "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty.0, "size": 2}],
        "subject": {"mediaType": subject.media_type, "digest": subject.digest, "size": subject.size},
    });
    let bytes = serde_json::to_vec(&manifest).unwrap();
    store
        .push_manifest(ManifestPush {
            bytes: &bytes,
            media_type: "application/vnd.oci.image.manifest.v1+json",
            artifact_type: Some("application/example.other"),
            tag: None,
            condition: TagCondition::Always,
        })
        .unwrap()
        .digest
        .to_string()
}

#[test]
fn the_referrers_api_is_read_page_by_page_and_no_tag_index_is_written() {
    let registry = FakeRegistry::start_with(Behaviour {
        page_size: 1,
        ..Behaviour::default()
    });
    let ws = Workspace::new();
    let reference = packed(&ws, &registry, "models/tiny");
    let (key, public) = keys(&ws, "signer");
    let key = key.to_str().unwrap();
    for i in 0..3 {
        ok(&["sign", "--key", key, "-a", &format!("n={i}"), &reference]);
    }
    ok(&["sign", "--key", key, "--format", "legacy", &reference]);
    let report = ok(&["verify", "--key", public.to_str().unwrap(), &reference]);
    assert!(report.contains("4 of 4 signatures verified"), "{report}");

    // The registry took each referrer's subject, so no tag-schema index was written.
    let tags = registry.tags("models/tiny");
    assert!(
        tags.iter().all(|t| t == "v1" || t.ends_with(".sig")),
        "{tags:?}"
    );
    // Three referrers, one per page: three listing requests, the later ones by Link.
    let listings: Vec<String> = registry
        .requests()
        .into_iter()
        .filter(|r| r.contains("/referrers/"))
        .collect();
    let last_verify = &listings[listings.len() - 3..];
    assert!(!last_verify[0].contains("page="), "{listings:#?}");
    assert!(last_verify[1].contains("page=1"), "{listings:#?}");
    assert!(last_verify[2].contains("page=2"), "{listings:#?}");

    let tree: Value = serde_json::from_str(&ok(&["tree", &reference, "--output", "json"])).unwrap();
    assert_eq!(tree["referrers"].as_array().unwrap().len(), 3, "{tree}");
    assert_eq!(tree["referrers"][0]["artifactType"], bundle::MEDIA_TYPE);
}

#[test]
fn an_artifact_type_filter_is_trusted_only_where_it_was_applied() {
    for filter_artifact_type in [true, false] {
        let registry = FakeRegistry::start_with(Behaviour {
            filter_artifact_type,
            ..Behaviour::default()
        });
        let ws = Workspace::new();
        let reference = packed(&ws, &registry, "models/tiny");
        let (key, _) = keys(&ws, "signer");
        let signature = ok(&["sign", "--key", key.to_str().unwrap(), &reference]);
        let store = store(&registry, "models/tiny");
        let subject = store.resolve(&Target::tag("v1")).unwrap();
        let other = push_other_referrer(&store, &subject);

        let fresh = self::store(&registry, "models/tiny");
        let before = registry.requests().len();
        let bundles = fresh
            .referrers(&subject.digest, Some(bundle::MEDIA_TYPE))
            .unwrap();
        let digests: Vec<String> = bundles.iter().map(|d| d.digest.to_string()).collect();
        assert_eq!(digests, vec![signature.trim().to_string()]);
        let requests = &registry.requests()[before..];
        assert!(
            requests[0].contains("artifactType=application%2Fvnd.dev.sigstore.bundle.v0.3%2Bjson"),
            "{requests:#?}"
        );
        // Filtered on the server or here, the other referrer's manifest is never fetched.
        assert!(
            !requests.iter().any(|r| r.contains(&other)),
            "{requests:#?}"
        );
        let all = fresh.referrers(&subject.digest, None).unwrap();
        assert_eq!(all.len(), 2, "filter {filter_artifact_type}");
    }
}

#[test]
fn referrers_the_api_lists_for_another_subject_do_not_count() {
    let registry = FakeRegistry::start_with(Behaviour {
        list_every_referrer: true,
        ..Behaviour::default()
    });
    let ws = Workspace::new();
    let signed = packed(&ws, &registry, "models/tiny");
    let other_dir = ws.path("other");
    copy_dir(&ws.model(), &other_dir);
    std::fs::write(other_dir.join("extra.md"), b"x").unwrap();
    let unsigned = format!("{}:unsigned", registry.reference("models/tiny"));
    assert!(ws.pack_dir(&other_dir, &unsigned, &[]).status.success());
    let (key, public) = keys(&ws, "signer");
    ok(&["sign", "--key", key.to_str().unwrap(), &signed]);
    let out = run(&["verify", "--key", public.to_str().unwrap(), &unsigned]);
    assert_fails(&out, 1, "has no signatures");
    let report = ok(&["verify", "--key", public.to_str().unwrap(), &signed]);
    assert!(report.contains("1 of 1 signatures verified"), "{report}");
}

#[test]
fn a_failed_or_throttled_referrers_listing_is_an_error_not_unsigned() {
    let registry = FakeRegistry::start();
    let ws = Workspace::new();
    let reference = packed(&ws, &registry, "models/tiny");
    let (key, public) = keys(&ws, "signer");
    ok(&["sign", "--key", key.to_str().unwrap(), &reference]);
    for status in [429, 500, 403] {
        registry.set_behaviour(Behaviour {
            referrers_status: Some(status),
            ..Behaviour::default()
        });
        let out = run(&["verify", "--key", public.to_str().unwrap(), &reference]);
        assert_fails(&out, 2, "listing the referrers of sha256:");
        assert!(
            stderr(&out).contains(&status.to_string()),
            "{}",
            stderr(&out)
        );
        assert!(
            !stderr(&out).contains("has no signatures"),
            "{}",
            stderr(&out)
        );
    }
}

fn docker_config(ws: &Workspace, registry: &FakeRegistry, entry: &str) -> std::path::PathBuf {
    let dir = ws.path("docker");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("config.json"),
        format!(r#"{{"auths":{{"{}":{entry}}}}}"#, registry.addr),
    )
    .unwrap();
    dir
}

#[test]
fn bearer_tokens_come_from_the_token_service() {
    use base64::Engine as _;
    let registry = FakeRegistry::start_with(Behaviour {
        bearer: Some(("alice".into(), "s3cret".into(), "refresh-me".into())),
        ..Behaviour::default()
    });
    let ws = Workspace::new();
    let reference = format!("{}:v1", registry.reference("models/tiny"));
    let (key, public) = keys(&ws, "signer");
    let with_config = |dir: &std::path::Path, args: &[&str]| {
        modelseal()
            .args(args)
            .env("DOCKER_CONFIG", dir)
            .env("COSIGN_PASSWORD", "pw")
            .output()
            .unwrap()
    };

    // Anonymous: the token service refuses, and the error says how to log in.
    let empty = ws.path("empty-docker");
    std::fs::create_dir_all(&empty).unwrap();
    let out = modelseal()
        .arg("pack")
        .arg(ws.model())
        .arg(&reference)
        .env("DOCKER_CONFIG", &empty)
        .output()
        .unwrap();
    assert_fails(&out, 2, "docker login");
    // A wrong password: refused, and nothing was stored.
    let auth = base64::engine::general_purpose::STANDARD.encode("alice:wrong");
    let wrong = docker_config(&ws, &registry, &format!(r#"{{"auth":"{auth}"}}"#));
    let out = with_config(&wrong, &["pack", ws.model().to_str().unwrap(), &reference]);
    assert_fails(&out, 2, "the token service answered 401");
    assert!(!stderr(&out).contains("wrong"), "{}", stderr(&out));
    assert!(registry.tags("models/tiny").is_empty());

    // Username and password: docker's token flow.
    let auth = base64::engine::general_purpose::STANDARD.encode("alice:s3cret");
    let basic = docker_config(&ws, &registry, &format!(r#"{{"auth":"{auth}"}}"#));
    let out = with_config(&basic, &["pack", ws.model().to_str().unwrap(), &reference]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = with_config(
        &basic,
        &["sign", "--key", key.to_str().unwrap(), &reference],
    );
    assert!(out.status.success(), "{}", stderr(&out));

    // An identity token: OAuth2's refresh-token grant.
    let identity = docker_config(&ws, &registry, r#"{"identitytoken":"refresh-me"}"#);
    let out = with_config(
        &identity,
        &["verify", "--key", public.to_str().unwrap(), &reference],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("1 of 1 signatures verified"));
    assert!(
        registry
            .requests()
            .iter()
            .any(|r| r.starts_with("POST /token")),
        "{:#?}",
        registry.requests()
    );
}

#[test]
fn blobs_are_mounted_between_repositories_of_one_registry() {
    let registry = FakeRegistry::start();
    let ws = Workspace::new();
    let source = packed(&ws, &registry, "staging/tiny");
    let (key, public) = keys(&ws, "signer");
    ok(&["sign", "--key", key.to_str().unwrap(), &source]);
    let destination = format!("{}:v1", registry.reference("prod/tiny"));
    let copied: Value =
        serde_json::from_str(&ok(&["copy", &source, &destination, "--output", "json"])).unwrap();
    assert!(copied["blobsMounted"].as_u64().unwrap() >= 3, "{copied}");
    assert_eq!(copied["bytes"], 0, "nothing was sent: {copied}");
    assert!(
        registry.requests().iter().any(|r| r
            .starts_with("POST /v2/prod/tiny/blobs/uploads/?mount=")
            && r.contains("from=staging%2Ftiny")),
        "{:#?}",
        registry.requests()
    );
    let report = ok(&["verify", "--key", public.to_str().unwrap(), &destination]);
    assert!(report.contains("1 of 1 signatures verified"), "{report}");
}

#[test]
fn a_download_cut_short_resumes_where_it_stopped() {
    let registry = FakeRegistry::start();
    let ws = Workspace::new();
    let reference = packed(&ws, &registry, "models/tiny");
    registry.set_behaviour(Behaviour {
        cut_downloads_after: Some(100),
        failing_downloads: 2,
        ..Behaviour::default()
    });
    let layout = ws.path("pulled");
    let destination = format!("oci:{}:v1", layout.display());
    ok(&["copy", &reference, &destination]);
    let inspected: Value =
        serde_json::from_str(&ok(&["inspect", &destination, "--output", "json"])).unwrap();
    let layers = inspected["layers"].as_array().unwrap();
    // Every blob longer than the cut was asked for twice: once cut, once resumed.
    let requests = registry.requests();
    for layer in layers.iter().filter(|l| l["size"].as_u64().unwrap() > 100) {
        let digest = layer["digest"].as_str().unwrap();
        let gets = requests
            .iter()
            .filter(|r| r.starts_with("GET ") && r.ends_with(digest))
            .count();
        assert!(gets >= 2, "{digest}: {requests:#?}");
    }
}

#[test]
fn a_manifest_whose_bytes_do_not_match_its_digest_is_rejected() {
    let registry = FakeRegistry::start();
    let ws = Workspace::new();
    packed(&ws, &registry, "models/tiny");
    let digest = store(&registry, "models/tiny")
        .resolve(&Target::tag("v1"))
        .unwrap()
        .digest;
    registry.set_behaviour(Behaviour {
        tamper_manifests: true,
        ..Behaviour::default()
    });
    let pinned = format!("{}@{digest}", registry.reference("models/tiny"));
    let out = run(&["inspect", &pinned]);
    assert_fails(&out, 1, "does not match its digest");
    let (_, public) = keys(&ws, "signer");
    let out = run(&["verify", "--key", public.to_str().unwrap(), &pinned]);
    assert_fails(&out, 1, "does not match its digest");
    // Copying it anywhere stores nothing.
    let layout = ws.path("pulled");
    let out = run(&["copy", &pinned, &format!("oci:{}:v1", layout.display())]);
    assert_fails(&out, 1, "does not match its digest");
    let index = std::fs::read_to_string(layout.join("index.json")).unwrap_or_default();
    assert!(!index.contains("\"v1\""), "{index}");
}

#[test]
fn an_endless_manifest_is_cut_off() {
    let registry = FakeRegistry::start();
    let ws = Workspace::new();
    let reference = packed(&ws, &registry, "models/tiny");
    registry.set_behaviour(Behaviour {
        endless_manifests: true,
        ..Behaviour::default()
    });
    let out = run(&["inspect", &reference]);
    assert_fails(&out, 1, "over the limit of 4194304 bytes");
}

#[test]
fn a_blob_longer_than_its_descriptor_is_rejected_and_not_stored() {
    let registry = FakeRegistry::start();
    let ws = Workspace::new();
    let reference = packed(&ws, &registry, "models/tiny");
    registry.set_behaviour(Behaviour {
        long_blobs: true,
        ..Behaviour::default()
    });
    let out = run(&["inspect", &reference]);
    assert_fails(&out, 1, "bytes but is");
    let layout = ws.path("pulled");
    let out = run(&["copy", &reference, &format!("oci:{}:v1", layout.display())]);
    assert_fails(&out, 1, "bytes but is");
    let index = std::fs::read_to_string(layout.join("index.json")).unwrap_or_default();
    assert!(!index.contains("\"v1\""), "{index}");
}

#[test]
fn credentials_never_follow_a_redirect() {
    use base64::Engine as _;
    let elsewhere = FakeRegistry::start_with(Behaviour {
        bearer: Some(("alice".into(), "s3cret".into(), "refresh-me".into())),
        ..Behaviour::default()
    });
    let registry = FakeRegistry::start();
    let ws = Workspace::new();
    let reference = packed(&ws, &registry, "models/tiny");
    registry.set_behaviour(Behaviour {
        redirect_blobs_to: Some(format!("http://{}", elsewhere.addr)),
        ..Behaviour::default()
    });
    let docker = ws.path("docker");
    std::fs::create_dir_all(&docker).unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode("alice:s3cret");
    std::fs::write(
        docker.join("config.json"),
        format!(r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#, registry.addr),
    )
    .unwrap();
    let out = modelseal()
        .args(["inspect", &reference])
        .env("DOCKER_CONFIG", &docker)
        .output()
        .unwrap();
    assert_fails(&out, 2, "401");
    // The other server was asked for the blob, and challenged, but never given credentials.
    let asked = elsewhere.requests();
    assert!(asked.iter().any(|r| r.contains("/blobs/")), "{asked:#?}");
    assert!(!asked.iter().any(|r| r.contains("/token")), "{asked:#?}");
}

#[test]
fn a_manifest_without_a_media_type_is_read_by_its_content_type() {
    let registry = FakeRegistry::start();
    let store = store(&registry, "models/plain");
    let (config, _) = store.push_blob(&mut &b"{}"[..], None).unwrap();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": config, "size": 2},
        "layers": [],
    });
    let bytes = serde_json::to_vec(&manifest).unwrap();
    store
        .push_manifest(ManifestPush {
            bytes: &bytes,
            media_type: "application/vnd.oci.image.manifest.v1+json",
            artifact_type: None,
            tag: Some("v1"),
            condition: TagCondition::Always,
        })
        .unwrap();
    let fresh = self::store(&registry, "models/plain");
    let resolved = fresh.resolve(&Target::tag("v1")).unwrap();
    assert_eq!(
        resolved.media_type,
        "application/vnd.oci.image.manifest.v1+json"
    );
}

//! A repository in an OCI registry as a [`Store`], spoken to over the distribution API.
//! Manifests travel as raw bytes and are hashed here (the digest signed is the digest pushed,
//! and a registry's word about a digest is never taken); blobs stream both ways, checked while
//! they stream, and downloads resume where a dropped connection left them.
//!
//! Referrers are read from the referrers API where the registry has one, else from the
//! tag-schema index (`sha256-<hex>`); a registry that does not take a pushed referrer's subject
//! gets that index maintained for it. Each listed referrer is checked against its own manifest
//! before it counts.

mod auth;
mod client;
mod download;
mod referrers;
mod upload;
pub mod wire;

use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap};
use reqwest::{Method, StatusCode};

use self::client::Client;
use super::digest::{Algorithm, Digest, Hasher};
use super::limits::MAX_MANIFEST_BYTES;
use super::manifest::{Descriptor, ManifestHeader};
use super::store::{BlobSource, ManifestPush, Store, StoreError, TagCondition};
use crate::reference::Target;

pub use referrers::referrers_tag;

/// Kept in step with the manifest media types by the test `accept_lists_every_manifest_type`.
const ACCEPTED_MANIFESTS: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

/// How often a manifest push is tried when the registry does not know one of its blobs yet:
/// the filesystem registry shows this when several clients write one blob at once.
const MANIFEST_PUSH_ATTEMPTS: u32 = 8;
/// The most manifest bytes kept in memory by one store.
const MANIFEST_CACHE_BYTES: usize = 32 << 20;
/// The most tags listed.
const MAX_TAGS: usize = 100_000;
/// The most pages of a paginated listing followed.
const MAX_PAGES: usize = 1_000;

/// A manifest as pulled: its bytes and the media type the registry gave them.
#[derive(Clone)]
struct Pulled {
    bytes: Vec<u8>,
    content_type: Option<String>,
}

/// How to reach registries, from the command line.
#[derive(Clone, Debug, Default)]
pub struct RegistryOptions {
    /// Registry hosts (`HOST[:PORT]`, as references name them) spoken to over plain HTTP;
    /// loopback registries whose port does not speak TLS get it anyway.
    pub plain_http: Vec<String>,
    /// PEM files of certificate authorities trusted besides the system's.
    pub ca_certs: Vec<PathBuf>,
}

pub struct RegistryStore {
    client: Arc<Client>,
    host: String,
    repository: String,
    /// Verified manifest bytes by digest. Content-addressed, so never stale; it saves the
    /// second fetch of a manifest that was resolved or listed moments before.
    manifests: Mutex<HashMap<Digest, Pulled>>,
}

impl RegistryStore {
    pub fn open(
        host: &str,
        repository: &str,
        options: &RegistryOptions,
    ) -> Result<RegistryStore, StoreError> {
        Ok(RegistryStore {
            client: Arc::new(Client::new(host, repository, options)?),
            host: host.to_string(),
            repository: repository.to_string(),
            manifests: Mutex::new(HashMap::new()),
        })
    }

    fn cached(&self, digest: &Digest) -> Option<Pulled> {
        self.manifests.lock().ok()?.get(digest).cloned()
    }

    fn remember(&self, digest: &Digest, pulled: &Pulled) {
        if let Ok(mut cache) = self.manifests.lock() {
            let held: usize = cache.values().map(|p| p.bytes.len()).sum();
            if held.saturating_add(pulled.bytes.len()) > MANIFEST_CACHE_BYTES {
                cache.clear();
            }
            cache.insert(digest.clone(), pulled.clone());
        }
    }

    /// Pulls a manifest's raw bytes and checks them: bounded, and hashing to the target's
    /// digest when it has one. Returns the bytes and their digest.
    fn pull_manifest(&self, target: &Target, what: &str) -> Result<(Pulled, Digest), StoreError> {
        if let Some(digest) = &target.digest
            && let Some(pulled) = self.cached(digest)
        {
            return Ok((pulled, digest.clone()));
        }
        let name = manifest_name(target);
        let response = self.client.send(
            Method::GET,
            &self.client.path("manifests", &name),
            |r| r.header(ACCEPT, ACCEPTED_MANIFESTS),
            true,
        )?;
        match response.status() {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND if target.digest.is_none() => {
                return Err(StoreError::TagNotFound {
                    tag: target.tag_or_default().to_string(),
                    location: self.location(),
                });
            }
            StatusCode::NOT_FOUND => {
                return Err(StoreError::NotFound {
                    what: what.to_string(),
                    location: self.location(),
                });
            }
            _ => return Err(self.client.fail(what, response)),
        }
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or_default().trim().to_string());
        let bytes = self
            .client
            .read_bounded(response, MAX_MANIFEST_BYTES, what)?;
        let algorithm = target
            .digest
            .as_ref()
            .map_or(Algorithm::Sha256, Digest::algorithm);
        let mut hasher = Hasher::new(algorithm);
        hasher.update(&bytes);
        let actual = hasher.finish();
        if let Some(expected) = &target.digest
            && expected != &actual
        {
            return Err(StoreError::DigestMismatch {
                what: what.to_string(),
                expected: expected.clone(),
                actual: actual.to_string(),
            });
        }
        let pulled = Pulled {
            bytes,
            content_type,
        };
        self.remember(&actual, &pulled);
        Ok((pulled, actual))
    }

    /// Pushes manifest bytes under `name` (a tag or their digest) and returns the answer's
    /// headers. A registry that does not know a just-pushed blob yet is still settling a
    /// concurrent write of it: the push is tried again, unless it is `conditional`, whose
    /// caller reads the tag again and decides (`TagMoved`). Failures on the registry's side
    /// are retried where the request is sent, not here.
    fn push_raw_manifest(
        &self,
        name: &str,
        bytes: &[u8],
        media_type: &str,
        conditional: bool,
    ) -> Result<HeaderMap, StoreError> {
        let what = format!("pushing manifest {name}");
        let body = bytes::Bytes::copy_from_slice(bytes);
        let mut pause = std::time::Duration::from_millis(50);
        let mut attempt = 1;
        loop {
            // Putting the same bytes under the same name again is harmless: a conditional
            // push is verified after it lands.
            let response = self.client.send(
                Method::PUT,
                &self.client.path("manifests", name),
                |r| r.header(CONTENT_TYPE, media_type).body(body.clone()),
                true,
            )?;
            if response.status() == StatusCode::CREATED {
                return self.check_pushed(response.headers().clone(), bytes, &what);
            }
            let answer = self.client.answer(response);
            let settling = answer.codes.iter().any(|c| {
                c == "MANIFEST_BLOB_UNKNOWN" || c == "MANIFEST_UNKNOWN" || c == "DIGEST_INVALID"
            });
            if settling && conditional {
                return Err(StoreError::TagMoved {
                    tag: name.to_string(),
                    location: self.location(),
                });
            }
            if !settling || attempt >= MANIFEST_PUSH_ATTEMPTS {
                return Err(self.client.failure(&what, &answer));
            }
            std::thread::sleep(client::jittered(pause));
            pause = pause.saturating_mul(2);
            attempt = attempt.saturating_add(1);
        }
    }

    /// Holds the registry to the digest of the bytes sent, when it names one.
    fn check_pushed(
        &self,
        headers: HeaderMap,
        bytes: &[u8],
        what: &str,
    ) -> Result<HeaderMap, StoreError> {
        let sent = Digest::sha256_of(bytes);
        if let Some(claimed) = headers
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            && claimed.starts_with("sha256:")
            && claimed != sent.to_string()
        {
            return Err(StoreError::Remote {
                location: self.location(),
                message: format!(
                    "{what}: the registry stored it as {claimed}, but the bytes sent are {sent}"
                ),
            });
        }
        Ok(headers)
    }

    /// What a tag names once concurrent writers had time to overwrite it.
    fn settled_tag(&self, tag: &str) -> Result<Digest, StoreError> {
        std::thread::sleep(referrers::SETTLE);
        Ok(self.resolve(&Target::tag(tag))?.digest)
    }

    /// Moves `tag` to pushed bytes only if `condition` holds, checked just before and
    /// verified after: a registry has no conditional write.
    fn push_conditional_tag(
        &self,
        tag: &str,
        manifest: &ManifestPush<'_>,
        digest: &Digest,
    ) -> Result<(), StoreError> {
        let current = match self.resolve(&Target::tag(tag)) {
            Ok(d) => Some(d.digest),
            Err(StoreError::TagNotFound { .. }) => None,
            Err(e) => return Err(e),
        };
        let holds = match &manifest.condition {
            TagCondition::Always => true,
            TagCondition::Absent => current.is_none(),
            TagCondition::Names(expected) => current.as_ref() == Some(expected),
        };
        let moved = || StoreError::TagMoved {
            tag: tag.to_string(),
            location: self.location(),
        };
        if !holds {
            return Err(moved());
        }
        self.push_raw_manifest(tag, manifest.bytes, manifest.media_type, true)?;
        if self.settled_tag(tag)? != *digest {
            // Another writer replaced it right after us: the caller reads again and retries.
            return Err(moved());
        }
        Ok(())
    }
}

/// How the manifests endpoint names a target: its digest, else its tag.
fn manifest_name(target: &Target) -> String {
    match &target.digest {
        Some(digest) => digest.to_string(),
        None => target.tag_or_default().to_string(),
    }
}

fn media_type_of(bytes: &[u8]) -> Option<String> {
    serde_json::from_slice::<ManifestHeader>(bytes)
        .ok()?
        .media_type
}

impl Store for RegistryStore {
    fn location(&self) -> String {
        format!("{}/{}", self.host, self.repository)
    }

    fn resolve(&self, target: &Target) -> Result<Descriptor, StoreError> {
        let what = match &target.digest {
            Some(d) => format!("manifest {d}"),
            None => format!("tag {}", target.tag_or_default()),
        };
        let (pulled, digest) = self.pull_manifest(target, &what)?;
        // mediaType is optional in a manifest; the registry's Content-Type then says it.
        let media_type = media_type_of(&pulled.bytes)
            .or_else(|| {
                pulled
                    .content_type
                    .filter(|t| ACCEPTED_MANIFESTS.split(", ").any(|a| a == t))
            })
            .ok_or_else(|| StoreError::Invalid {
                what,
                reason: "neither the manifest nor the registry says what kind of manifest it is"
                    .into(),
            })?;
        Ok(Descriptor::new(
            media_type,
            digest,
            pulled.bytes.len() as u64,
        ))
    }

    fn fetch_manifest(&self, descriptor: &Descriptor) -> Result<Vec<u8>, StoreError> {
        let what = format!("manifest {}", descriptor.digest);
        if descriptor.size > MAX_MANIFEST_BYTES {
            return Err(StoreError::TooLarge {
                what,
                size: descriptor.size,
                limit: MAX_MANIFEST_BYTES,
            });
        }
        let bytes = self
            .pull_manifest(&Target::digest(descriptor.digest.clone()), &what)?
            .0
            .bytes;
        if bytes.len() as u64 != descriptor.size {
            return Err(StoreError::SizeMismatch {
                what,
                expected: descriptor.size,
                actual: bytes.len() as u64,
            });
        }
        Ok(bytes)
    }

    fn push_manifest(&self, manifest: ManifestPush<'_>) -> Result<Descriptor, StoreError> {
        let digest = Digest::sha256_of(manifest.bytes);
        let conditional = manifest.tag.is_some() && manifest.condition != TagCondition::Always;
        let headers = match manifest.tag {
            // A plain tag push stores the manifest by itself.
            Some(tag) if !conditional => {
                self.push_raw_manifest(tag, manifest.bytes, manifest.media_type, false)?
            }
            // By digest first: an untagged manifest has no other name, and before a
            // conditional tag move this keeps the window between checking the tag and moving
            // it as short as one request.
            _ => self.push_raw_manifest(
                &digest.to_string(),
                manifest.bytes,
                manifest.media_type,
                false,
            )?,
        };
        if let Some(tag) = manifest.tag
            && conditional
        {
            self.push_conditional_tag(tag, &manifest, &digest)?;
        }
        let mut descriptor =
            Descriptor::new(manifest.media_type, digest, manifest.bytes.len() as u64);
        descriptor.artifact_type = manifest.artifact_type.map(str::to_string);
        self.index_referrer(&descriptor, manifest.bytes, &headers)?;
        Ok(descriptor)
    }

    fn push_blob(
        &self,
        reader: &mut dyn Read,
        expected: Option<&Digest>,
    ) -> Result<(Digest, u64), StoreError> {
        self.upload_unknown_size(reader, expected)
    }

    fn push_known_blob(
        &self,
        reader: &mut dyn Read,
        digest: &Digest,
        size: u64,
    ) -> Result<(Digest, u64), StoreError> {
        self.upload_known_size(reader, digest, size)
    }

    fn has_blob(&self, digest: &Digest) -> Result<bool, StoreError> {
        let what = format!("blob {digest}");
        let response = self.client.send(
            Method::HEAD,
            &self.client.path("blobs", &digest.to_string()),
            |r| r,
            true,
        )?;
        match response.status() {
            StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(self.client.fail(&what, response)),
        }
    }

    fn blob_source(&self) -> Option<BlobSource> {
        Some(BlobSource {
            host: self.host.clone(),
            repository: self.repository.clone(),
        })
    }

    fn mount_blob(&self, digest: &Digest, from: &BlobSource) -> Result<bool, StoreError> {
        if from.host != self.host || from.repository == self.repository {
            return Ok(false);
        }
        self.mount(digest, &from.repository)
    }

    fn open_blob(&self, descriptor: &Descriptor) -> Result<Box<dyn Read + Send>, StoreError> {
        download::open(self.client.clone(), descriptor)
    }

    fn referrers(
        &self,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>, StoreError> {
        self.list_referrers(subject, artifact_type)
    }

    fn tags(&self) -> Result<Vec<String>, StoreError> {
        #[derive(serde::Deserialize)]
        struct TagList {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let mut tags = Vec::new();
        let mut page = Some(format!("{}?n=1000", self.client.path("tags", "list")));
        let mut pages: usize = 0;
        while let Some(target) = page.take() {
            pages = pages.saturating_add(1);
            if pages > MAX_PAGES {
                return Err(StoreError::TooLarge {
                    what: "the tag list (pages)".into(),
                    size: pages as u64,
                    limit: MAX_PAGES as u64,
                });
            }
            let response = self.client.send(Method::GET, &target, |r| r, true)?;
            match response.status() {
                StatusCode::OK => {}
                // A repository that does not exist yet has no tags.
                StatusCode::NOT_FOUND => break,
                _ => return Err(self.client.fail("listing tags", response)),
            }
            page = next_page(response.headers());
            let bytes = self
                .client
                .read_bounded(response, MAX_MANIFEST_BYTES, "the tag list")?;
            let list: TagList =
                serde_json::from_slice(&bytes).map_err(|e| StoreError::Invalid {
                    what: "the tag list".into(),
                    reason: e.to_string(),
                })?;
            tags.extend(list.tags.unwrap_or_default());
            if tags.len() > MAX_TAGS {
                return Err(StoreError::TooLarge {
                    what: "the tag list".into(),
                    size: tags.len() as u64,
                    limit: MAX_TAGS as u64,
                });
            }
        }
        tags.sort();
        tags.dedup();
        Ok(tags)
    }
}

/// The `rel="next"` address of a `Link` header, as paginated listings give it.
fn next_page(headers: &HeaderMap) -> Option<String> {
    wire::next_page(
        headers
            .get_all(reqwest::header::LINK)
            .iter()
            .filter_map(|v| v.to_str().ok()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::manifest::{
        MEDIA_TYPE_DOCKER_MANIFEST, MEDIA_TYPE_DOCKER_MANIFEST_LIST, MEDIA_TYPE_IMAGE_INDEX,
        MEDIA_TYPE_IMAGE_MANIFEST,
    };

    #[test]
    fn accept_lists_every_manifest_type() {
        for media_type in [
            MEDIA_TYPE_IMAGE_MANIFEST,
            MEDIA_TYPE_IMAGE_INDEX,
            MEDIA_TYPE_DOCKER_MANIFEST,
            MEDIA_TYPE_DOCKER_MANIFEST_LIST,
        ] {
            assert!(ACCEPTED_MANIFESTS.contains(media_type), "{media_type}");
        }
    }

    #[test]
    fn reads_the_next_page_of_a_link_header() {
        let mut headers = HeaderMap::new();
        assert_eq!(next_page(&headers), None);
        headers.insert(
            reqwest::header::LINK,
            r#"</v2/a/tags/list?n=2&last=b>; rel="next""#.parse().unwrap(),
        );
        assert_eq!(
            next_page(&headers).as_deref(),
            Some("/v2/a/tags/list?n=2&last=b")
        );
        headers.insert(
            reqwest::header::LINK,
            r#"<https://r.example/x>; rel="prev", <https://r.example/y>; rel=next"#
                .parse()
                .unwrap(),
        );
        assert_eq!(next_page(&headers).as_deref(), Some("https://r.example/y"));
        headers.insert(reqwest::header::LINK, "garbage".parse().unwrap());
        assert_eq!(next_page(&headers), None);
    }
}

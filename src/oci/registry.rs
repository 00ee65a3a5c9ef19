//! A repository in an OCI registry as a [`Store`], over oci-client. Manifests travel as raw
//! bytes and are hashed here (the digest signed is the digest pushed, and a registry's word
//! about a digest is never taken); blobs stream both ways, checked while they stream.
//!
//! Referrers are read from and written to the referrers tag-schema index (`sha256-<hex>`),
//! which every registry can hold: entries carry the referrer's `artifactType` and all its
//! annotations, as the distribution spec requires. Each entry is checked against the
//! referrer's own manifest before it counts.

use std::collections::HashMap;
use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::StreamExt;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference as OciReference, RegistryOperation};

use super::digest::{Algorithm, Digest, Hasher};
use super::limits::MAX_MANIFEST_BYTES;
use super::manifest::{
    Descriptor, ImageIndex, MEDIA_TYPE_DOCKER_MANIFEST, MEDIA_TYPE_DOCKER_MANIFEST_LIST,
    MEDIA_TYPE_IMAGE_INDEX, MEDIA_TYPE_IMAGE_MANIFEST, ManifestHeader,
};
use super::store::{ManifestPush, Store, StoreError, TagCondition, as_referrer};
use super::verified::VerifiedReader;
use crate::reference::Target;

const ACCEPTED_MANIFESTS: [&str; 4] = [
    MEDIA_TYPE_IMAGE_MANIFEST,
    MEDIA_TYPE_IMAGE_INDEX,
    MEDIA_TYPE_DOCKER_MANIFEST,
    MEDIA_TYPE_DOCKER_MANIFEST_LIST,
];
/// How often the referrers index is re-written when concurrent writers keep changing it.
const INDEX_UPDATE_ATTEMPTS: usize = 16;
const UPLOAD_CHUNK: usize = 1 << 20;
/// Idempotent requests are tried this often in all.
const RETRY_ATTEMPTS: usize = 8;
const RETRY_FIRST_PAUSE: std::time::Duration = std::time::Duration::from_millis(50);
/// How long a writer waits before checking that its read-modify-write of a tag survived. A
/// registry has no conditional writes: a concurrent writer that read the tag before our push
/// overwrites it within its check-to-push time, which this wait outlasts.
const SETTLE: std::time::Duration = std::time::Duration::from_millis(150);

pub struct RegistryStore {
    client: Client,
    /// The same, with chunked uploads: the only way oci-client uploads an empty blob.
    chunked: Client,
    runtime: Arc<tokio::runtime::Runtime>,
    host: String,
    repository: String,
    auth: RegistryAuth,
    /// Whether the client holds what it needs to pull (or push): authenticating asks the
    /// registry every time, so it is done once per store.
    pull_ready: AtomicBool,
    push_ready: AtomicBool,
    /// Verified manifest bytes by digest. Content-addressed, so never stale; it saves the
    /// second fetch of a manifest that was resolved or listed moments before.
    manifests: Mutex<HashMap<Digest, Vec<u8>>>,
}

/// The most manifest bytes kept in memory by one store.
const MANIFEST_CACHE_BYTES: usize = 32 << 20;
/// The most referrers one subject may list; each costs a manifest fetch.
const MAX_REFERRERS: usize = 1000;

/// Loopback registries are spoken to over plain HTTP, as docker does; others over HTTPS.
fn is_loopback(host: &str) -> bool {
    let name = host
        .rsplit_once(':')
        .filter(|(name, port)| !port.contains(']') && !name.is_empty())
        .map_or(host, |(name, _)| name);
    name == "localhost"
        || name == "[::1]"
        || name
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Credentials from the Docker config (`auths`, `credsStore`, `credHelpers`, `DOCKER_CONFIG`),
/// as docker, cosign and oras read them; anonymous when none is configured.
fn credentials(host: &str) -> Result<RegistryAuth, StoreError> {
    use docker_credential::{CredentialRetrievalError as E, DockerCredential};
    match docker_credential::get_credential(host) {
        Ok(DockerCredential::UsernamePassword(user, password)) => {
            Ok(RegistryAuth::Basic(user, password))
        }
        // An identity token is a refresh token to exchange at the registry's token service,
        // which this client does not do yet: say so rather than send it as a bearer token.
        Ok(DockerCredential::IdentityToken(_)) => Err(StoreError::Remote {
            location: host.to_string(),
            message: format!(
                "the Docker config holds an identity (refresh) token for {host}, which modelseal cannot use yet; log in with a username and password"
            ),
        }),
        Err(E::NoCredentialConfigured | E::ConfigNotFound | E::ConfigReadError) => {
            Ok(RegistryAuth::Anonymous)
        }
        Err(e) => Err(StoreError::Remote {
            location: host.to_string(),
            message: format!("cannot get the credentials for {host}: {e}"),
        }),
    }
}

impl RegistryStore {
    pub fn open(host: &str, repository: &str) -> Result<RegistryStore, StoreError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError::io("tokio runtime", e))?;
        let protocol = if is_loopback(host) {
            ClientProtocol::Http
        } else {
            ClientProtocol::Https
        };
        let chunked_config = ClientConfig {
            protocol: protocol.clone(),
            connect_timeout: Some(std::time::Duration::from_secs(30)),
            read_timeout: Some(std::time::Duration::from_secs(300)),
            ..ClientConfig::default()
        };
        let config = ClientConfig {
            protocol,
            // A blob whose size is known goes up in one streamed PUT (push_known_blob); blobs
            // of unknown size still use chunked PATCH requests.
            use_monolithic_push: true,
            connect_timeout: Some(std::time::Duration::from_secs(30)),
            read_timeout: Some(std::time::Duration::from_secs(300)),
            ..ClientConfig::default()
        };
        Ok(RegistryStore {
            client: Client::new(config),
            chunked: Client::new(chunked_config),
            runtime: Arc::new(runtime),
            host: host.to_string(),
            repository: repository.to_string(),
            auth: credentials(host)?,
            pull_ready: AtomicBool::new(false),
            push_ready: AtomicBool::new(false),
            manifests: Mutex::new(HashMap::new()),
        })
    }

    fn authenticate(&self, operation: RegistryOperation) -> Result<(), StoreError> {
        let ready = match operation {
            RegistryOperation::Pull => &self.pull_ready,
            RegistryOperation::Push => &self.push_ready,
        };
        if ready.load(Ordering::Relaxed) {
            return Ok(());
        }
        let reference = self.reference(&Target::default());
        self.runtime
            .block_on(self.client.auth(&reference, &self.auth, operation))
            .map_err(|e| self.remote("authenticating", e))?;
        ready.store(true, Ordering::Relaxed);
        Ok(())
    }

    fn cached(&self, digest: &Digest) -> Option<Vec<u8>> {
        self.manifests.lock().ok()?.get(digest).cloned()
    }

    fn remember(&self, digest: &Digest, bytes: &[u8]) {
        if let Ok(mut cache) = self.manifests.lock() {
            let held: usize = cache.values().map(Vec::len).sum();
            if held.saturating_add(bytes.len()) > MANIFEST_CACHE_BYTES {
                cache.clear();
            }
            cache.insert(digest.clone(), bytes.to_vec());
        }
    }

    fn reference(&self, target: &Target) -> OciReference {
        match (&target.digest, &target.tag) {
            // The digest doubles as the tag: when a registry answers a manifest push without a
            // Location header, oci-client strips the tag from the URL, and panics if it cannot.
            (Some(digest), _) => OciReference::with_tag_and_digest(
                self.host.clone(),
                self.repository.clone(),
                digest.to_string(),
                digest.to_string(),
            ),
            (None, _) => OciReference::with_tag(
                self.host.clone(),
                self.repository.clone(),
                target.tag_or_default().to_string(),
            ),
        }
    }

    fn remote(&self, what: &str, error: OciDistributionError) -> StoreError {
        if is_not_found(&error) {
            return StoreError::NotFound {
                what: what.to_string(),
                location: self.location(),
            };
        }
        StoreError::Remote {
            location: self.location(),
            message: format!("{what}: {error}"),
        }
    }

    /// Pulls a manifest's raw bytes and checks them: bounded, and hashing to `expected` when
    /// one is known. Returns the bytes and their digest.
    fn pull_manifest(&self, target: &Target, what: &str) -> Result<(Vec<u8>, Digest), StoreError> {
        if let Some(digest) = &target.digest
            && let Some(bytes) = self.cached(digest)
        {
            return Ok((bytes, digest.clone()));
        }
        let reference = self.reference(target);
        self.authenticate(RegistryOperation::Pull)?;
        let (bytes, _claimed) = self
            .retrying(|| {
                self.runtime.block_on(self.client.pull_manifest_raw(
                    &reference,
                    &self.auth,
                    &ACCEPTED_MANIFESTS,
                ))
            })
            .map_err(|e| {
                if let Some(tag) = &target.tag
                    && target.digest.is_none()
                    && is_not_found(&e)
                {
                    return StoreError::TagNotFound {
                        tag: tag.clone(),
                        location: self.location(),
                    };
                }
                self.remote(what, e)
            })?;
        if bytes.len() as u64 > MAX_MANIFEST_BYTES {
            return Err(StoreError::TooLarge {
                what: what.to_string(),
                size: bytes.len() as u64,
                limit: MAX_MANIFEST_BYTES,
            });
        }
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
        self.remember(&actual, &bytes);
        Ok((bytes.to_vec(), actual))
    }

    /// Pushes manifest bytes. `retry` is for writes that are idempotent on their own; a
    /// conditional write is not retried here, its caller re-reads and decides again.
    fn push_raw_manifest(
        &self,
        target: &Target,
        bytes: &[u8],
        media_type: &str,
        retry: bool,
    ) -> Result<(), StoreError> {
        self.authenticate(RegistryOperation::Push)?;
        // Putting the same bytes under the same name is idempotent: safe to retry. The blobs
        // were pushed first, so a registry that does not know one yet is still settling (the
        // filesystem registry shows this when several clients write one blob at once).
        let reference = self.reference(target);
        let attempts_transient =
            |e: &OciDistributionError| retry && is_transient_for_manifest_push(e);
        let result = self.retrying_when(attempts_transient, || {
            let Ok(content_type) = media_type.parse() else {
                return Err(OciDistributionError::GenericError(Some(format!(
                    "{media_type:?} is not a valid media type"
                ))));
            };
            self.runtime.block_on(self.client.push_manifest_raw(
                &reference,
                Bytes::copy_from_slice(bytes),
                content_type,
            ))
        });
        match result {
            Ok(_) => Ok(()),
            // A conditional write that failed for a passing reason: the caller re-reads the
            // tag and decides again, as when another writer moved it.
            Err(e) if !retry && is_transient_for_manifest_push(&e) => Err(StoreError::TagMoved {
                tag: target
                    .tag
                    .clone()
                    .unwrap_or_else(|| target.tag_or_default().to_string()),
                location: self.location(),
            }),
            Err(e) => Err(self.remote("pushing a manifest", e)),
        }
    }

    /// Uploads what `reader` yields (after `first`): the reader stays on this thread, and
    /// `upload` consumes the chunks on another, fed through a bounded channel. Returns the
    /// upload's answer and the digest and size of what was sent.
    fn stream_upload<T: Send>(
        &self,
        reader: &mut dyn Read,
        first: Vec<u8>,
        upload: impl FnOnce(ChunkStream) -> Result<T, OciDistributionError> + Send,
    ) -> Result<(T, Digest, u64), StoreError> {
        let (sender, receiver) = tokio::sync::mpsc::channel(4);
        let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
            receiver.recv().await.map(|item| (item, receiver))
        })
        .boxed();
        let (uploaded, read) = std::thread::scope(|scope| {
            let upload = scope.spawn(|| upload(stream));
            let read = feed(reader, first, &sender);
            drop(sender);
            (upload.join(), read)
        });
        let (digest, size) = read.map_err(|e| StoreError::io("blob upload", e))?;
        let response = uploaded
            .map_err(|_| StoreError::Unsupported("the upload thread panicked".into()))?
            .map_err(|e| self.remote("pushing a blob", e))?;
        Ok((response, digest, size))
    }

    /// Runs an idempotent request, again after a pause when the registry is overloaded (429),
    /// fails on its side (5xx) or the connection drops; bounded, with growing pauses.
    fn retrying<T>(
        &self,
        request: impl Fn() -> Result<T, OciDistributionError>,
    ) -> Result<T, OciDistributionError> {
        self.retrying_when(is_transient, request)
    }

    fn retrying_when<T>(
        &self,
        transient: impl Fn(&OciDistributionError) -> bool,
        request: impl Fn() -> Result<T, OciDistributionError>,
    ) -> Result<T, OciDistributionError> {
        let mut pause = RETRY_FIRST_PAUSE;
        for _ in 1..RETRY_ATTEMPTS {
            match request() {
                Err(e) if transient(&e) => {
                    std::thread::sleep(jittered(pause));
                    pause = pause.saturating_mul(2);
                }
                other => return other,
            }
        }
        request()
    }

    /// What a tag names once concurrent writers had time to overwrite it.
    fn settled_tag(&self, tag: &str) -> Result<Digest, StoreError> {
        std::thread::sleep(SETTLE);
        Ok(self.resolve(&Target::tag(tag))?.digest)
    }

    /// The tag-schema referrers index of `subject`, or an empty one.
    fn referrers_index(&self, subject: &Digest) -> Result<ImageIndex, StoreError> {
        Ok(self.referrers_index_with_digest(subject)?.0)
    }

    /// Adds a pushed referrer to its subject's tag-schema index, re-reading after each write
    /// until the entry is there (a concurrent writer may have replaced the index meanwhile).
    fn add_referrer(&self, subject: &Digest, entry: Descriptor) -> Result<(), StoreError> {
        let tag = referrers_tag(subject);
        let target = Target::tag(&tag);
        for _ in 0..INDEX_UPDATE_ATTEMPTS {
            let (mut index, read) = self.referrers_index_with_digest(subject)?;
            if !index.manifests.iter().any(|d| d.digest == entry.digest) {
                index.manifests.push(entry.clone());
                let bytes = serde_json::to_vec(&index).map_err(|e| StoreError::Invalid {
                    what: format!("referrers index {tag}"),
                    reason: e.to_string(),
                })?;
                // Write only over the index that was read, so other writers' entries stay.
                if self.referrers_index_with_digest(subject)?.1 != read {
                    continue;
                }
                match self.push_raw_manifest(&target, &bytes, MEDIA_TYPE_IMAGE_INDEX, false) {
                    // A passing failure: the re-read below decides whether to try again.
                    Ok(()) | Err(StoreError::TagMoved { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            std::thread::sleep(SETTLE);
            let (settled, _) = self.referrers_index_with_digest(subject)?;
            if settled.manifests.iter().any(|d| d.digest == entry.digest) {
                return Ok(());
            }
        }
        Err(StoreError::TagMoved {
            tag,
            location: self.location(),
        })
    }

    /// The tag-schema index and the digest of its bytes (`None` when there is none).
    fn referrers_index_with_digest(
        &self,
        subject: &Digest,
    ) -> Result<(ImageIndex, Option<Digest>), StoreError> {
        let tag = referrers_tag(subject);
        match self.pull_manifest(&Target::tag(&tag), &format!("referrers index {tag}")) {
            Ok((bytes, digest)) => {
                let index = serde_json::from_slice(&bytes).map_err(|e| StoreError::Invalid {
                    what: format!("referrers index {tag}"),
                    reason: e.to_string(),
                })?;
                Ok((index, Some(digest)))
            }
            Err(StoreError::TagNotFound { .. }) => Ok((ImageIndex::empty(), None)),
            Err(e) => Err(e),
        }
    }
}

/// The referrers tag schema: the subject digest with `:` replaced by `-`.
pub fn referrers_tag(subject: &Digest) -> String {
    format!("{}-{}", subject.algorithm().name(), subject.hex())
}

/// A pause stretched by up to half again at random, so that writers retrying together spread.
fn jittered(pause: std::time::Duration) -> std::time::Duration {
    let mut byte = [0u8; 1];
    let spread = match getrandom::fill(&mut byte) {
        Ok(()) => u32::from(byte[0]),
        Err(_) => 0,
    };
    pause.saturating_add(
        pause
            .saturating_mul(spread)
            .checked_div(510)
            .unwrap_or_default(),
    )
}

/// Failures worth another try: the registry said "later" or failed itself, or the
/// connection broke.
fn is_transient(error: &OciDistributionError) -> bool {
    match error {
        OciDistributionError::ServerError { code, .. } => *code == 429 || *code >= 500,
        OciDistributionError::RequestError(e) => {
            e.is_connect()
                || e.is_timeout()
                || e.is_request()
                || e.status()
                    .is_some_and(|status| status.as_u16() == 429 || status.is_server_error())
        }
        OciDistributionError::RegistryError { envelope, .. } => {
            envelope.errors.iter().any(|e| match &e.code {
                OciErrorCode::Toomanyrequests => true,
                OciErrorCode::Other(code) => code == "UNKNOWN",
                _ => false,
            })
        }
        _ => false,
    }
}

fn is_transient_for_manifest_push(error: &OciDistributionError) -> bool {
    is_transient(error)
        || matches!(error, OciDistributionError::ServerError { code: 400, message, .. }
            if message.contains("MANIFEST_BLOB_UNKNOWN") || message.contains("DIGEST_INVALID"))
        || matches!(error, OciDistributionError::RegistryError { envelope, .. }
            if envelope.errors.iter().any(|e| matches!(e.code, OciErrorCode::ManifestBlobUnknown | OciErrorCode::DigestInvalid)))
}

fn is_not_found(error: &OciDistributionError) -> bool {
    match error {
        OciDistributionError::ImageManifestNotFoundError(_) => true,
        OciDistributionError::ServerError { code: 404, .. } => true,
        OciDistributionError::RegistryError { envelope, .. } => envelope.errors.iter().any(|e| {
            // A repository that does not exist yet has no tags either.
            matches!(
                e.code,
                OciErrorCode::ManifestUnknown | OciErrorCode::NameUnknown
            )
        }),
        _ => false,
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
        let (bytes, digest) = self.pull_manifest(target, &what)?;
        let media_type = media_type_of(&bytes).ok_or_else(|| StoreError::Invalid {
            what,
            reason: "the manifest has no mediaType".into(),
        })?;
        Ok(Descriptor::new(media_type, digest, bytes.len() as u64))
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
        let (bytes, _) = self.pull_manifest(&Target::digest(descriptor.digest.clone()), &what)?;
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
        if manifest.tag.is_none() || conditional {
            // By digest (an untagged manifest has no other name; before a conditional tag
            // move, this keeps the window between checking the tag and moving it as short as
            // one request). A plain tag push stores the manifest by itself.
            self.push_raw_manifest(
                &Target::digest(digest.clone()),
                manifest.bytes,
                manifest.media_type,
                true,
            )?;
        }
        if let Some(tag) = manifest.tag {
            if conditional {
                // The registry has no conditional write: check just before, verify after.
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
                if !holds {
                    return Err(StoreError::TagMoved {
                        tag: tag.to_string(),
                        location: self.location(),
                    });
                }
            }
            self.push_raw_manifest(
                &Target::tag(tag),
                manifest.bytes,
                manifest.media_type,
                !conditional,
            )?;
            if conditional && self.settled_tag(tag)? != digest {
                // Another writer replaced it right after us: the caller reads again and retries.
                return Err(StoreError::TagMoved {
                    tag: tag.to_string(),
                    location: self.location(),
                });
            }
        }
        let mut descriptor =
            Descriptor::new(manifest.media_type, digest, manifest.bytes.len() as u64);
        descriptor.artifact_type = manifest.artifact_type.map(str::to_string);
        if let Ok(header) = serde_json::from_slice::<ManifestHeader>(manifest.bytes)
            && let Some(subject) = &header.subject
        {
            let mut entry = descriptor.clone();
            entry.artifact_type = header.effective_artifact_type().map(str::to_string);
            entry.annotations = header.annotations.clone();
            self.add_referrer(&subject.digest, entry)?;
        }
        Ok(descriptor)
    }

    fn push_blob(
        &self,
        reader: &mut dyn Read,
        expected: Option<&Digest>,
    ) -> Result<(Digest, u64), StoreError> {
        let reference = self.reference(&Target::default());
        self.authenticate(RegistryOperation::Push)?;
        if let Some(digest) = expected
            && self.has_blob(digest)?
        {
            // Already there: the content is still read, to hold it to the digest it claims.
            let (actual, size) = hash_all(reader, digest.algorithm())
                .map_err(|e| StoreError::io("blob upload", e))?;
            check_expected(expected, &actual)?;
            return Ok((actual, size));
        }
        let mut first = vec![0u8; UPLOAD_CHUNK];
        let n = read_some(reader, &mut first).map_err(|e| StoreError::io("blob upload", e))?;
        first.truncate(n);
        if n == 0 {
            // The streamed uploads refuse empty content: an empty blob opens a chunked upload
            // and closes it at once.
            let digest = Digest::sha256_of(b"");
            check_expected(expected, &digest)?;
            if !self.has_blob(&digest)? {
                self.runtime
                    .block_on(async {
                        self.chunked
                            .auth(&reference, &self.auth, RegistryOperation::Push)
                            .await?;
                        self.chunked
                            .push_blob(&reference, Bytes::new(), &digest.to_string())
                            .await
                    })
                    .map_err(|e| self.remote("pushing a blob", e))?;
            }
            return Ok((digest, 0));
        }
        let (response, digest, size) = self.stream_upload(reader, first, |stream| {
            self.runtime
                .block_on(self.client.push_blob_stream_chunked(&reference, stream))
        })?;
        if response.blob_digest != digest.to_string() || response.size != size {
            return Err(StoreError::Remote {
                location: self.location(),
                message: "the upload does not match what was read".into(),
            });
        }
        check_expected(expected, &digest)?;
        Ok((digest, size))
    }

    fn push_known_blob(
        &self,
        reader: &mut dyn Read,
        digest: &Digest,
        size: u64,
    ) -> Result<(Digest, u64), StoreError> {
        if size == 0 {
            return self.push_blob(reader, Some(digest));
        }
        let reference = self.reference(&Target::default());
        self.authenticate(RegistryOperation::Push)?;
        let claimed = digest.to_string();
        let (_, actual, sent) = self.stream_upload(reader, Vec::new(), |stream| {
            self.runtime.block_on(self.client.push_blob_stream(
                &reference,
                stream,
                &claimed,
                Some(size),
            ))
        })?;
        check_expected(Some(digest), &actual)?;
        if sent != size {
            return Err(StoreError::SizeMismatch {
                what: format!("blob {digest}"),
                expected: size,
                actual: sent,
            });
        }
        Ok((actual, sent))
    }

    fn has_blob(&self, digest: &Digest) -> Result<bool, StoreError> {
        let reference = self.reference(&Target::default());
        self.authenticate(RegistryOperation::Pull)?;
        self.retrying(|| {
            self.runtime
                .block_on(self.client.blob_exists(&reference, &digest.to_string()))
        })
        .map_err(|e| self.remote(&format!("blob {digest}"), e))
    }

    fn open_blob(&self, descriptor: &Descriptor) -> Result<Box<dyn Read + Send>, StoreError> {
        let what = format!("blob {}", descriptor.digest);
        let reference = self.reference(&Target::default());
        let layer = oci_client::manifest::OciDescriptor {
            media_type: descriptor.media_type.clone(),
            digest: descriptor.digest.to_string(),
            size: i64::try_from(descriptor.size).map_err(|_| StoreError::TooLarge {
                what: what.clone(),
                size: descriptor.size,
                limit: i64::MAX as u64,
            })?,
            ..Default::default()
        };
        self.authenticate(RegistryOperation::Pull)?;
        let sized = self
            .runtime
            .block_on(self.client.pull_blob_stream(&reference, &layer))
            .map_err(|e| self.remote(&what, e))?;
        let reader = StreamReader {
            runtime: self.runtime.clone(),
            stream: sized.stream,
            chunk: Bytes::new(),
            ended: false,
        };
        Ok(Box::new(VerifiedReader::new(
            reader,
            what,
            descriptor.digest.clone(),
            descriptor.size,
        )))
    }

    fn referrers(
        &self,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>, StoreError> {
        let index = self.referrers_index(subject)?;
        let mut found = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        if index.manifests.len() > MAX_REFERRERS {
            return Err(StoreError::TooLarge {
                what: format!(
                    "referrers index of {subject} ({} entries)",
                    index.manifests.len()
                ),
                size: index.manifests.len() as u64,
                limit: MAX_REFERRERS as u64,
            });
        }
        for entry in index.manifests {
            if !seen.insert(entry.digest.clone()) {
                continue;
            }
            let bytes = self.fetch_manifest(&entry)?;
            let Some((listed_for, descriptor)) = as_referrer(&entry, &bytes)? else {
                continue;
            };
            let wanted =
                artifact_type.is_none() || descriptor.artifact_type.as_deref() == artifact_type;
            if &listed_for == subject && wanted {
                found.push(descriptor);
            }
        }
        Ok(found)
    }

    fn tags(&self) -> Result<Vec<String>, StoreError> {
        let reference = self.reference(&Target::default());
        let mut tags = self
            .runtime
            .block_on(self.client.list_tags(&reference, &self.auth, None, None))
            .map_err(|e| self.remote("listing tags", e))?
            .tags;
        tags.sort();
        Ok(tags)
    }
}

fn check_expected(expected: Option<&Digest>, actual: &Digest) -> Result<(), StoreError> {
    match expected {
        Some(expected) if expected != actual => Err(StoreError::DigestMismatch {
            what: "uploaded blob".into(),
            expected: expected.clone(),
            actual: actual.to_string(),
        }),
        _ => Ok(()),
    }
}

/// The chunks of a blob upload.
type ChunkStream = futures_util::stream::BoxStream<'static, Result<Bytes, OciDistributionError>>;

/// Reads until the buffer is full or the input ends.
fn read_some(reader: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while let Some(rest) = buf.get_mut(filled..) {
        if rest.is_empty() {
            break;
        }
        match reader.read(rest) {
            Ok(0) => break,
            Ok(n) => filled = filled.saturating_add(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Reads `reader` to its end, hashing it.
fn hash_all(reader: &mut dyn Read, algorithm: Algorithm) -> io::Result<(Digest, u64)> {
    let mut hasher = Hasher::new(algorithm);
    let mut size: u64 = 0;
    let mut buf = vec![0u8; UPLOAD_CHUNK];
    loop {
        let n = read_some(reader, &mut buf)?;
        if n == 0 {
            return Ok((hasher.finish(), size));
        }
        hasher.update(buf.get(..n).unwrap_or_default());
        size = size.saturating_add(n as u64);
    }
}

/// Sends `first` and the rest of `reader` to the upload, hashing what is sent.
fn feed(
    reader: &mut dyn Read,
    first: Vec<u8>,
    sender: &tokio::sync::mpsc::Sender<Result<Bytes, OciDistributionError>>,
) -> io::Result<(Digest, u64)> {
    let mut hasher = Hasher::new(Algorithm::Sha256);
    let mut size: u64 = 0;
    let mut chunk = first;
    if chunk.is_empty() {
        let mut next = vec![0u8; UPLOAD_CHUNK];
        let n = read_some(reader, &mut next)?;
        next.truncate(n);
        chunk = next;
    }
    loop {
        if chunk.is_empty() {
            break;
        }
        hasher.update(&chunk);
        size = size.saturating_add(chunk.len() as u64);
        if sender.blocking_send(Ok(Bytes::from(chunk))).is_err() {
            // The upload stopped; its error says why.
            break;
        }
        let mut next = vec![0u8; UPLOAD_CHUNK];
        let n = read_some(reader, &mut next)?;
        next.truncate(n);
        chunk = next;
    }
    Ok((hasher.finish(), size))
}

/// A blocking reader over a blob download stream.
struct StreamReader {
    runtime: Arc<tokio::runtime::Runtime>,
    stream: futures_util::stream::BoxStream<'static, Result<Bytes, io::Error>>,
    chunk: Bytes,
    /// The stream has ended: it must not be polled again (oci-client's verifying stream
    /// reports an error when it is).
    ended: bool,
}

impl Read for StreamReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.chunk.is_empty() {
            if self.ended {
                return Ok(0);
            }
            match self.runtime.block_on(self.stream.next()) {
                Some(Ok(next)) => self.chunk = next,
                Some(Err(e)) => return Err(e),
                None => self.ended = true,
            }
        }
        let n = buf.len().min(self.chunk.len());
        let head = self.chunk.split_to(n);
        if let Some(target) = buf.get_mut(..n) {
            target.copy_from_slice(&head);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_use_plain_http() {
        for host in [
            "localhost",
            "localhost:5000",
            "127.0.0.1:5000",
            "127.1.2.3",
            "[::1]:5000",
        ] {
            assert!(is_loopback(host), "{host}");
        }
        for host in [
            "registry.example.com",
            "10.0.0.1:5000",
            "127.example.com",
            "[::2]:5000",
        ] {
            assert!(!is_loopback(host), "{host}");
        }
        assert_eq!(
            referrers_tag(&Digest::sha256_of(b"x")),
            format!("sha256-{}", Digest::sha256_of(b"x").hex())
        );
    }
}

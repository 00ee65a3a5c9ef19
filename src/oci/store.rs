//! The `Store` trait: what the rest of modelseal asks of a place where artifacts live, be it an
//! OCI image layout directory or a registry repository.

use std::io::{self, Read};
use std::path::PathBuf;

use super::digest::Digest;
use super::manifest::Descriptor;
use crate::reference::Target;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{0} is not an OCI image layout: {1}")]
    NotALayout(PathBuf, String),
    #[error("tag {tag:?} not found in {location}")]
    TagNotFound { tag: String, location: String },
    #[error(
        "tag {tag:?} names {count} different manifests in {location}; pin the artifact by digest"
    )]
    AmbiguousTag {
        tag: String,
        count: usize,
        location: String,
    },
    #[error("tag {tag:?} in {location} was changed by someone else meanwhile")]
    TagMoved { tag: String, location: String },
    #[error("{location}: {message}")]
    Remote { location: String, message: String },
    /// The registry could not be reached, or failed on its side, after retries: a later try
    /// may succeed.
    #[error("{location}: {message}; try again later")]
    Unavailable { location: String, message: String },
    #[error("{what} not found in {location}")]
    NotFound { what: String, location: String },
    #[error("{what} is {size} bytes, over the limit of {limit} bytes")]
    TooLarge { what: String, size: u64, limit: u64 },
    #[error("{what}: {count}, over the limit of {limit}")]
    TooMany {
        what: String,
        count: usize,
        limit: usize,
    },
    #[error("{what} does not match its digest {expected}: its content hashes to {actual}")]
    DigestMismatch {
        what: String,
        expected: Digest,
        actual: String,
    },
    #[error("{what} should be {expected} bytes but is {actual}")]
    SizeMismatch {
        what: String,
        expected: u64,
        actual: u64,
    },
    #[error("{what} is not valid: {reason}")]
    Invalid { what: String, reason: String },
    #[error("{0}")]
    Unsupported(String),
}

impl StoreError {
    /// A subject listed with more referrers than are read ([`super::limits::MAX_REFERRERS`]):
    /// an error, never a silently shortened list that could hide a signature.
    pub fn too_many_referrers(subject: &Digest, count: usize) -> StoreError {
        StoreError::TooMany {
            what: format!("the referrers of {subject}"),
            count,
            limit: super::limits::MAX_REFERRERS,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> StoreError {
        // A verifying reader reports content failures through io::Error; keep them visible.
        match source
            .get_ref()
            .and_then(|e| e.downcast_ref::<StoreError>())
            .and_then(StoreError::content_copy)
        {
            Some(content) => content,
            None => StoreError::Io {
                path: path.into(),
                source,
            },
        }
    }

    /// A copy of a content failure (wrong digest or size); `None` for other errors, which
    /// cannot be copied (they may hold an io::Error).
    pub(crate) fn content_copy(&self) -> Option<StoreError> {
        match self {
            StoreError::DigestMismatch {
                what,
                expected,
                actual,
            } => Some(StoreError::DigestMismatch {
                what: what.clone(),
                expected: expected.clone(),
                actual: actual.clone(),
            }),
            StoreError::SizeMismatch {
                what,
                expected,
                actual,
            } => Some(StoreError::SizeMismatch {
                what: what.clone(),
                expected: *expected,
                actual: *actual,
            }),
            _ => None,
        }
    }

    /// Whether a later try may succeed (the registry was unreachable or overloaded).
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Unavailable { .. })
    }

    /// Whether the store's content failed a check (wrong digest, wrong size, too large, not
    /// parseable), as opposed to the store being unreachable or the request being wrong.
    pub fn is_integrity_failure(&self) -> bool {
        matches!(
            self,
            StoreError::DigestMismatch { .. }
                | StoreError::SizeMismatch { .. }
                | StoreError::TooLarge { .. }
                | StoreError::TooMany { .. }
                | StoreError::Invalid { .. }
        )
    }
}

/// When a tagged push may move its tag. A read-modify-write of a tag (cosign's `.sig`
/// manifest, which holds every signature) pushes only if nobody moved the tag meanwhile, so
/// that concurrent writers cannot drop each other's signatures.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum TagCondition {
    /// Move the tag whatever it names.
    #[default]
    Always,
    /// Only if the tag does not exist yet.
    Absent,
    /// Only if the tag still names this manifest.
    Names(Digest),
}

/// A repository of a registry that blobs can be mounted from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlobSource {
    pub host: String,
    pub repository: String,
}

/// A manifest to store, as the exact bytes that will be addressed by their digest.
pub struct ManifestPush<'a> {
    pub bytes: &'a [u8],
    pub media_type: &'a str,
    /// Recorded in the index entry where the store keeps one, so listings can filter on it.
    pub artifact_type: Option<&'a str>,
    pub tag: Option<&'a str>,
    /// Checked atomically with the tag update; ignored without a tag.
    pub condition: TagCondition,
}

/// A place where OCI artifacts live. Every read is checked against its digest and bounded in
/// size; every write is atomic.
pub trait Store: Send + Sync {
    /// Where the store is, for messages.
    fn location(&self) -> String;

    /// The descriptor of the manifest a target names. A digest target is checked to exist.
    fn resolve(&self, target: &Target) -> Result<Descriptor, StoreError>;

    /// The exact bytes of a manifest or index, checked against the descriptor and bounded by
    /// [`super::limits::MAX_MANIFEST_BYTES`].
    fn fetch_manifest(&self, descriptor: &Descriptor) -> Result<Vec<u8>, StoreError>;

    /// Stores a manifest (its blobs must be stored first) and optionally tags it.
    fn push_manifest(&self, manifest: ManifestPush<'_>) -> Result<Descriptor, StoreError>;

    /// Streams a blob in, returning its digest and size. With `expected`, content that hashes
    /// to anything else is rejected and nothing is stored.
    fn push_blob(
        &self,
        reader: &mut dyn Read,
        expected: Option<&Digest>,
    ) -> Result<(Digest, u64), StoreError>;

    /// Streams in a blob whose digest and size are known beforehand (a copy between stores),
    /// which lets a store send it in one request. Content that is anything else is refused.
    fn push_known_blob(
        &self,
        reader: &mut dyn Read,
        digest: &Digest,
        size: u64,
    ) -> Result<(Digest, u64), StoreError> {
        let stored = self.push_blob(reader, Some(digest))?;
        if stored.1 != size {
            return Err(StoreError::SizeMismatch {
                what: format!("blob {digest}"),
                expected: size,
                actual: stored.1,
            });
        }
        Ok(stored)
    }

    /// Whether the store holds the blob (so a copy can skip it).
    fn has_blob(&self, digest: &Digest) -> Result<bool, StoreError>;

    /// Where this store's blobs can be mounted from by another store, if anywhere.
    fn blob_source(&self) -> Option<BlobSource> {
        None
    }

    /// Makes the blob `digest` of `from` this store's too without sending it (a cross-repository
    /// mount); `false` when that cannot be done and the blob must be sent.
    fn mount_blob(&self, _digest: &Digest, _from: &BlobSource) -> Result<bool, StoreError> {
        Ok(false)
    }

    /// Streams a blob out; the reader fails unless the content matches the descriptor.
    fn open_blob(&self, descriptor: &Descriptor) -> Result<Box<dyn Read + Send>, StoreError>;

    /// The manifests whose `subject` is `subject`, optionally only those of one artifact type.
    fn referrers(
        &self,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>, StoreError>;

    /// The referrers of each of `subjects`, in the same order. Stores that can answer for
    /// many subjects with one scan (an image layout) override this.
    fn referrers_of_each(&self, subjects: &[Digest]) -> Result<Vec<Vec<Descriptor>>, StoreError> {
        subjects.iter().map(|s| self.referrers(s, None)).collect()
    }

    /// The tags in the store, sorted.
    fn tags(&self) -> Result<Vec<String>, StoreError>;
}

/// What a manifest listed under `entry` refers to, read from its own bytes (which the caller
/// fetched and verified): the subject's digest, and the descriptor the referrer is listed with
/// (its own media type, artifact type and annotations). `None` for a manifest without a subject.
pub(crate) fn as_referrer(
    entry: &Descriptor,
    bytes: &[u8],
) -> Result<Option<(Digest, Descriptor)>, StoreError> {
    let invalid = |reason: String| StoreError::Invalid {
        what: format!("manifest {}", entry.digest),
        reason,
    };
    let header: super::manifest::ManifestHeader =
        serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))?;
    let Some(subject) = header.subject.as_ref().map(|s| s.digest.clone()) else {
        return Ok(None);
    };
    // The index that listed it is only a list: the manifest says what it is.
    // mediaType is optional in a manifest; the listing's entry then says it.
    let media_type = header
        .media_type
        .clone()
        .unwrap_or_else(|| entry.media_type.clone());
    let mut descriptor = Descriptor::new(media_type, entry.digest.clone(), entry.size);
    descriptor.artifact_type = header.effective_artifact_type().map(str::to_string);
    descriptor.annotations = header.annotations;
    Ok(Some((subject, descriptor)))
}

/// Reads a whole small blob (a config, a signature), refusing descriptors over `limit` before
/// reading anything.
pub fn fetch_blob(
    store: &dyn Store,
    descriptor: &Descriptor,
    limit: u64,
) -> Result<Vec<u8>, StoreError> {
    let what = format!("blob {}", descriptor.digest);
    if descriptor.size > limit {
        return Err(StoreError::TooLarge {
            what,
            size: descriptor.size,
            limit,
        });
    }
    // The store's reader verifies digest and size; `take` only guards the allocation.
    let mut bytes = Vec::new();
    store
        .open_blob(descriptor)?
        .take(descriptor.size.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| StoreError::io(what, e))?;
    Ok(bytes)
}

//! Referrers on a registry. Read: the referrers API (`GET /v2/<name>/referrers/<digest>`,
//! following `Link` pagination), else, on a registry without it, the tag-schema index
//! `sha256-<hex>`; a failed or throttled listing is an error, never "no referrers". Write: a
//! referrer the registry did not take as one (no `OCI-Subject` in its answer) is added to the
//! tag-schema index, with its `artifactType` and all its annotations, and the index is read
//! again after writing until the entry stays.

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::header::{ACCEPT, HeaderMap};
use reqwest::{Method, StatusCode};

use super::{MAX_PAGES, RegistryStore, next_page};
use crate::oci::limits::MAX_REFERRERS;
use crate::oci::manifest::{Descriptor, ImageIndex, MEDIA_TYPE_IMAGE_INDEX, ManifestHeader};
use crate::oci::store::as_referrer;
use crate::oci::{Digest, Store, StoreError};
use crate::reference::Target;

/// How long a writer waits before checking that its read-modify-write of a tag survived. A
/// registry has no conditional writes: a concurrent writer that read the tag before our push
/// overwrites it within its check-to-push time, which this wait outlasts.
pub(super) const SETTLE: Duration = Duration::from_millis(150);
/// How often the referrers index is re-written when concurrent writers keep changing it.
const INDEX_UPDATE_ATTEMPTS: usize = 16;

/// The referrers tag schema: the subject digest with `:` replaced by `-`.
pub fn referrers_tag(subject: &Digest) -> String {
    format!("{}-{}", subject.algorithm().name(), subject.hex())
}

impl RegistryStore {
    /// The referrers of `subject`, each checked against its own manifest.
    pub(super) fn list_referrers(
        &self,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>, StoreError> {
        let entries = match self.referrers_from_api(subject, artifact_type)? {
            Some(entries) => entries,
            None => self.referrers_index(subject)?.0.manifests,
        };
        if entries.len() > MAX_REFERRERS {
            return Err(StoreError::too_many_referrers(subject, entries.len()));
        }
        let mut found = Vec::new();
        let mut seen = BTreeSet::new();
        for entry in entries {
            if !seen.insert(entry.digest.clone()) {
                continue;
            }
            // An entry whose manifest is gone (deleted since it was listed) is no referrer.
            let bytes = match self.fetch_manifest(&entry) {
                Ok(bytes) => bytes,
                Err(StoreError::NotFound { .. }) => continue,
                Err(e) => return Err(e),
            };
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

    /// The referrers API's listing, all pages of it; `None` when the registry has no such
    /// API. A server-side `artifactType` filter is trusted only where the registry says it
    /// applied it; elsewhere the entries are filtered here.
    fn referrers_from_api(
        &self,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Option<Vec<Descriptor>>, StoreError> {
        let what = format!("listing the referrers of {subject}");
        let path = self.client.path("referrers", &subject.to_string());
        let first = match artifact_type {
            Some(artifact_type) => with_query(&path, "artifactType", artifact_type),
            None => path,
        };
        let mut entries = Vec::new();
        let mut page = Some(first);
        let mut pages: usize = 0;
        while let Some(target) = page.take() {
            pages = pages.saturating_add(1);
            if pages > MAX_PAGES {
                return Err(StoreError::too_many_referrers(subject, entries.len()));
            }
            let response = self.client.send(
                Method::GET,
                &target,
                |r| r.header(ACCEPT, MEDIA_TYPE_IMAGE_INDEX),
                true,
            )?;
            match response.status() {
                StatusCode::OK => {}
                StatusCode::NOT_FOUND if pages == 1 => return Ok(None),
                _ => return Err(self.client.fail(&what, response)),
            }
            let filtered = filters_applied(response.headers()).contains("artifactType");
            page = next_page(response.headers());
            let bytes = self.client.read_bounded(
                response,
                crate::oci::limits::MAX_MANIFEST_BYTES,
                &what,
            )?;
            let index: ImageIndex =
                serde_json::from_slice(&bytes).map_err(|e| StoreError::Invalid {
                    what: format!("the referrers of {subject}"),
                    reason: e.to_string(),
                })?;
            entries.extend(index.manifests.into_iter().filter(|entry| {
                filtered
                    || artifact_type.is_none()
                    || entry.artifact_type.as_deref() == artifact_type
            }));
            if entries.len() > MAX_REFERRERS {
                return Err(StoreError::too_many_referrers(subject, entries.len()));
            }
        }
        Ok(Some(entries))
    }

    /// Records a pushed manifest that has a subject in the tag-schema index, unless the
    /// registry's answer (`OCI-Subject`) says it indexed it itself.
    pub(super) fn index_referrer(
        &self,
        pushed: &Descriptor,
        bytes: &[u8],
        answer: &HeaderMap,
    ) -> Result<(), StoreError> {
        let Ok(header) = serde_json::from_slice::<ManifestHeader>(bytes) else {
            return Ok(());
        };
        let Some(subject) = &header.subject else {
            return Ok(());
        };
        let taken = answer
            .get("oci-subject")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v == subject.digest.to_string());
        if taken {
            return Ok(());
        }
        let mut entry = pushed.clone();
        entry.artifact_type = header.effective_artifact_type().map(str::to_string);
        entry.annotations = header.annotations.clone();
        self.add_referrer(&subject.digest, entry)
    }

    /// Adds a pushed referrer to its subject's tag-schema index, re-reading after each write
    /// until the entry is there (a concurrent writer may have replaced the index meanwhile).
    fn add_referrer(&self, subject: &Digest, entry: Descriptor) -> Result<(), StoreError> {
        let tag = referrers_tag(subject);
        let mut refused = false;
        for _ in 0..INDEX_UPDATE_ATTEMPTS {
            let (mut index, read) = self.referrers_index(subject)?;
            if refused {
                // The registry refuses an index that lists a manifest it no longer has: leave
                // out entries whose manifests are gone.
                index.manifests = self.present(index.manifests)?;
            }
            if !index.manifests.iter().any(|d| d.digest == entry.digest) {
                index.manifests.push(entry.clone());
                let bytes = serde_json::to_vec(&index).map_err(|e| StoreError::Invalid {
                    what: format!("referrers index {tag}"),
                    reason: e.to_string(),
                })?;
                // Write only over the index that was read, so other writers' entries stay.
                if self.referrers_index(subject)?.1 != read {
                    continue;
                }
                match self.push_raw_manifest(&tag, &bytes, MEDIA_TYPE_IMAGE_INDEX, true) {
                    Ok(_) => {}
                    // Moved meanwhile, or an entry's manifest is gone: the re-read below
                    // decides whether to try again.
                    Err(StoreError::TagMoved { .. }) => refused = true,
                    Err(e) => return Err(e),
                }
            }
            std::thread::sleep(SETTLE);
            let (settled, _) = self.referrers_index(subject)?;
            if settled.manifests.iter().any(|d| d.digest == entry.digest) {
                return Ok(());
            }
        }
        Err(StoreError::TagMoved {
            tag,
            location: self.location(),
        })
    }

    /// The entries whose manifests the registry still has.
    fn present(&self, entries: Vec<Descriptor>) -> Result<Vec<Descriptor>, StoreError> {
        let mut kept = Vec::new();
        for entry in entries {
            match self.fetch_manifest(&entry) {
                Ok(_) => kept.push(entry),
                Err(StoreError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(kept)
    }

    /// The tag-schema index and the digest of its bytes (an empty index and `None` when
    /// there is none).
    fn referrers_index(
        &self,
        subject: &Digest,
    ) -> Result<(ImageIndex, Option<Digest>), StoreError> {
        let tag = referrers_tag(subject);
        let what = format!("referrers index {tag}");
        match self.pull_manifest(&Target::tag(&tag), &what) {
            Ok((pulled, digest)) => {
                let index =
                    serde_json::from_slice(&pulled.bytes).map_err(|e| StoreError::Invalid {
                        what,
                        reason: e.to_string(),
                    })?;
                Ok((index, Some(digest)))
            }
            Err(StoreError::TagNotFound { .. }) => Ok((ImageIndex::empty(), None)),
            Err(e) => Err(e),
        }
    }
}

/// `path?key=value`, the value percent-encoded.
fn with_query(path: &str, key: &str, value: &str) -> String {
    let encoded: String = value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    format!("{path}?{key}={encoded}")
}

/// The filters the registry says it applied to a referrers listing.
fn filters_applied(headers: &HeaderMap) -> BTreeSet<String> {
    headers
        .get_all("oci-filters-applied")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|f| f.trim().to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_tag_schema_index() {
        assert_eq!(
            referrers_tag(&Digest::sha256_of(b"x")),
            format!("sha256-{}", Digest::sha256_of(b"x").hex())
        );
    }

    #[test]
    fn encodes_query_values() {
        assert_eq!(
            with_query(
                "/v2/a/referrers/x",
                "artifactType",
                "application/vnd.x+json"
            ),
            "/v2/a/referrers/x?artifactType=application%2Fvnd.x%2Bjson"
        );
    }

    #[test]
    fn reads_the_filters_applied() {
        let mut headers = HeaderMap::new();
        assert!(filters_applied(&headers).is_empty());
        headers.insert(
            "OCI-Filters-Applied",
            "artifactType, other".parse().unwrap(),
        );
        let filters = filters_applied(&headers);
        assert!(filters.contains("artifactType") && filters.contains("other"));
    }
}

//! Copying an artifact between stores with everything attached to it: every referrer
//! (signatures, attestations, referrers of referrers) and cosign's legacy tags, so that
//! verification gives the same answer at the destination. Manifests are copied as their exact
//! bytes, so every digest, and every signature over one, stays valid.

use crate::oci::{
    Descriptor, ImageIndex, ImageManifest, ManifestPush, Store, StoreError, TagCondition,
    is_index_media_type,
};
use crate::reference::Target;
use crate::signature::legacy;

/// How deep referrers of referrers are followed.
const MAX_DEPTH: usize = 8;
/// How many manifests one copy moves at most; a hostile source could list any number.
const MAX_MANIFESTS: usize = 10_000;

/// How often one blob is sent when the destination keeps failing on its side.
const BLOB_ATTEMPTS: u32 = 3;

/// What a copy reports as it goes, for a progress bar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transfer {
    /// A blob of this many bytes is about to be sent (again, after a failed attempt).
    Planned(u64),
    /// This many more bytes were read from the source and sent on.
    Sent(u64),
}

/// What a copy moved.
#[derive(Clone, Debug, Default)]
pub struct Copied {
    pub manifests: usize,
    pub blobs: usize,
    pub blobs_skipped: usize,
    /// Blobs the destination took from another repository of the same registry.
    pub blobs_mounted: usize,
    pub bytes: u64,
    pub referrers: usize,
    pub tags: Vec<String>,
}

/// Copies `subject` (resolved in `src` by the caller) to `dst`, tagging it `tag` there, with
/// its referrers and legacy tags. `progress` hears of every blob sent and of its bytes.
pub fn copy(
    src: &dyn Store,
    dst: &dyn Store,
    subject: &Descriptor,
    tag: Option<&str>,
    progress: &dyn Fn(Transfer),
) -> Result<Copied, StoreError> {
    let mut run = Run {
        src,
        dst,
        progress,
        copied: Copied::default(),
    };
    run.copy(subject, tag)?;
    Ok(run.copied)
}

/// One copy under way: where from, where to, and what it moved so far.
struct Run<'a> {
    src: &'a dyn Store,
    dst: &'a dyn Store,
    progress: &'a dyn Fn(Transfer),
    copied: Copied,
}

/// Reports the bytes read through it.
struct Counting<'a, R> {
    inner: R,
    progress: &'a dyn Fn(Transfer),
}

impl<R: std::io::Read> std::io::Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        (self.progress)(Transfer::Sent(n as u64));
        Ok(n)
    }
}

impl Run<'_> {
    fn copy(&mut self, subject: &Descriptor, tag: Option<&str>) -> Result<(), StoreError> {
        let dst = self.dst;
        // Untagged first: the tag moves only once everything attached is there, so a copy
        // that fails halfway never leaves the tag on an artifact without its signatures.
        let bytes = self.manifest(subject, None, 0)?;
        self.referrers(subject, 0)?;
        for legacy_tag in [
            legacy::signature_tag(&subject.digest),
            legacy::attestation_tag(&subject.digest),
            legacy::sbom_tag(&subject.digest),
        ] {
            self.legacy_tag(&legacy_tag)?;
        }
        if let Some(tag) = tag {
            dst.push_manifest(ManifestPush {
                bytes: &bytes,
                media_type: &subject.media_type,
                artifact_type: subject.artifact_type.as_deref(),
                tag: Some(tag),
                condition: TagCondition::Always,
            })?;
        }
        Ok(())
    }

    fn referrers(&mut self, subject: &Descriptor, depth: usize) -> Result<(), StoreError> {
        let src = self.src;
        if depth >= MAX_DEPTH {
            return Ok(());
        }
        for referrer in src.referrers(&subject.digest, None)? {
            self.manifest(&referrer, None, 0)?;
            self.copied.referrers = self.copied.referrers.saturating_add(1);
            self.referrers(&referrer, depth.saturating_add(1))?;
        }
        Ok(())
    }

    /// Copies a manifest (or an index and its manifests), its blobs first, as the exact bytes,
    /// and returns those bytes.
    fn manifest(
        &mut self,
        descriptor: &Descriptor,
        tag: Option<&str>,
        depth: usize,
    ) -> Result<Vec<u8>, StoreError> {
        let (src, dst) = (self.src, self.dst);
        // Counted before recursing, so a hostile chain of nested indexes ends here.
        self.copied.manifests = self.copied.manifests.saturating_add(1);
        if self.copied.manifests > MAX_MANIFESTS || depth > MAX_DEPTH {
            return Err(StoreError::Unsupported(format!(
                "the artifact has more than {MAX_MANIFESTS} manifests or {MAX_DEPTH} levels attached; refusing to copy more"
            )));
        }
        let bytes = src.fetch_manifest(descriptor)?;
        let invalid = |e: serde_json::Error| StoreError::Invalid {
            what: format!("manifest {}", descriptor.digest),
            reason: e.to_string(),
        };
        if is_index_media_type(&descriptor.media_type) {
            let index: ImageIndex = serde_json::from_slice(&bytes).map_err(invalid)?;
            for child in &index.manifests {
                self.manifest(child, None, depth.saturating_add(1))?;
            }
        } else {
            let manifest: ImageManifest = serde_json::from_slice(&bytes).map_err(invalid)?;
            for blob in std::iter::once(&manifest.config).chain(&manifest.layers) {
                self.blob(blob)?;
            }
        }
        dst.push_manifest(ManifestPush {
            bytes: &bytes,
            media_type: &descriptor.media_type,
            artifact_type: descriptor.artifact_type.as_deref(),
            tag,
            // A legacy tag the destination lacks must still be absent when it is written.
            condition: if tag.is_some() {
                TagCondition::Absent
            } else {
                TagCondition::Always
            },
        })?;
        Ok(bytes)
    }

    fn blob(&mut self, blob: &Descriptor) -> Result<(), StoreError> {
        let (src, dst) = (self.src, self.dst);
        if dst.has_blob(&blob.digest)? {
            self.copied.blobs_skipped = self.copied.blobs_skipped.saturating_add(1);
            return Ok(());
        }
        if let Some(source) = src.blob_source()
            && dst.mount_blob(&blob.digest, &source)?
        {
            self.copied.blobs_mounted = self.copied.blobs_mounted.saturating_add(1);
            return Ok(());
        }
        // A stream cannot be sent twice: after a dropped connection the blob is read again from
        // the source and sent again, a bounded number of times.
        let mut attempt = 1;
        let size = loop {
            (self.progress)(Transfer::Planned(blob.size));
            let mut reader = Counting {
                inner: src.open_blob(blob)?,
                progress: self.progress,
            };
            match dst.push_known_blob(&mut reader, &blob.digest, blob.size) {
                Ok((_, size)) => break size,
                Err(e) if e.is_transient() && attempt < BLOB_ATTEMPTS => {
                    attempt = attempt.saturating_add(1)
                }
                Err(e) => return Err(e),
            }
        };
        self.copied.blobs = self.copied.blobs.saturating_add(1);
        self.copied.bytes = self.copied.bytes.saturating_add(size);
        Ok(())
    }

    /// Copies a legacy tag. When the destination already has the tag, the layers of both are
    /// merged (each layer carries its own signature), so no signature there is dropped.
    fn legacy_tag(&mut self, tag: &str) -> Result<(), StoreError> {
        let (src, dst) = (self.src, self.dst);
        let source = match src.resolve(&Target::tag(tag)) {
            Ok(d) => d,
            Err(StoreError::TagNotFound { .. }) => return Ok(()),
            Err(e) => return Err(e),
        };
        let existing = match dst.resolve(&Target::tag(tag)) {
            Ok(d) if d.digest != source.digest => Some(d),
            Ok(_) => return Ok(()),
            Err(StoreError::TagNotFound { .. }) => None,
            Err(e) => return Err(e),
        };
        let Some(existing) = existing else {
            self.manifest(&source, Some(tag), 0)?;
            self.copied.tags.push(tag.to_string());
            return Ok(());
        };
        let read = |store: &dyn Store, d: &Descriptor| -> Result<ImageManifest, StoreError> {
            serde_json::from_slice(&store.fetch_manifest(d)?).map_err(|e| StoreError::Invalid {
                what: format!("{tag} manifest {}", d.digest),
                reason: e.to_string(),
            })
        };
        let theirs = read(src, &source)?;
        let mut layers = read(dst, &existing)?.layers;
        for layer in theirs.layers {
            let present = layers
                .iter()
                .any(|l| l.digest == layer.digest && l.annotations == layer.annotations);
            if !present {
                self.blob(&layer)?;
                layers.push(layer);
            }
        }
        if layers.len() > legacy::MAX_LAYERS {
            return Err(StoreError::Unsupported(format!(
                "merging {tag} would give {} layers, more than cosign reads",
                layers.len()
            )));
        }
        let config_bytes = legacy::config_blob(&layers);
        let (config_digest, config_size) = dst.push_blob(&mut config_bytes.as_slice(), None)?;
        let config = Descriptor::new(legacy::CONFIG_MEDIA_TYPE, config_digest, config_size);
        let bytes = serde_json::to_vec(&legacy::manifest(layers, config)).map_err(|e| {
            StoreError::Invalid {
                what: tag.to_string(),
                reason: e.to_string(),
            }
        })?;
        dst.push_manifest(ManifestPush {
            bytes: &bytes,
            media_type: crate::oci::MEDIA_TYPE_IMAGE_MANIFEST,
            artifact_type: None,
            tag: Some(tag),
            condition: TagCondition::Names(existing.digest.clone()),
        })?;
        self.copied.tags.push(tag.to_string());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;
    use crate::oci::{Digest, LayoutStore, MEDIA_TYPE_IMAGE_MANIFEST};

    #[test]
    fn progress_hears_of_every_byte_sent() {
        let dir = tempfile::tempdir().unwrap();
        let src = LayoutStore::open_or_create(&dir.path().join("src")).unwrap();
        let dst = LayoutStore::open_or_create(&dir.path().join("dst")).unwrap();
        let layer = vec![7u8; 3000];
        let (layer_digest, _) = src.push_blob(&mut layer.as_slice(), None).unwrap();
        let (config_digest, _) = src.push_blob(&mut &b"{}"[..], None).unwrap();
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": MEDIA_TYPE_IMAGE_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": config_digest, "size": 2},
            "layers": [{"mediaType": "application/octet-stream", "digest": layer_digest, "size": 3000}],
        });
        let bytes = serde_json::to_vec(&manifest).unwrap();
        let subject = src
            .push_manifest(ManifestPush {
                bytes: &bytes,
                media_type: MEDIA_TYPE_IMAGE_MANIFEST,
                artifact_type: None,
                tag: Some("v1"),
                condition: TagCondition::Always,
            })
            .unwrap();
        assert_eq!(subject.digest, Digest::sha256_of(&bytes));

        let heard = RefCell::new((0u64, 0u64));
        let progress = |transfer: Transfer| {
            let mut heard = heard.borrow_mut();
            match transfer {
                Transfer::Planned(n) => heard.0 += n,
                Transfer::Sent(n) => heard.1 += n,
            }
        };
        let copied = copy(&src, &dst, &subject, Some("v1"), &progress).unwrap();
        assert_eq!(copied.bytes, 3002);
        assert_eq!(*heard.borrow(), (3002, 3002));
    }
}

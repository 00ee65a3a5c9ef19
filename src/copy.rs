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
/// its referrers and legacy tags.
pub fn copy(
    src: &dyn Store,
    dst: &dyn Store,
    subject: &Descriptor,
    tag: Option<&str>,
) -> Result<Copied, StoreError> {
    let mut copied = Copied::default();
    // Untagged first: the tag moves only once everything attached is there, so a copy that
    // fails halfway never leaves the tag on an artifact without its signatures.
    let bytes = copy_manifest(src, dst, subject, None, 0, &mut copied)?;
    copy_referrers(src, dst, subject, 0, &mut copied)?;
    for legacy_tag in [
        legacy::signature_tag(&subject.digest),
        legacy::attestation_tag(&subject.digest),
        legacy::sbom_tag(&subject.digest),
    ] {
        copy_legacy_tag(src, dst, &legacy_tag, &mut copied)?;
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
    Ok(copied)
}

fn copy_referrers(
    src: &dyn Store,
    dst: &dyn Store,
    subject: &Descriptor,
    depth: usize,
    copied: &mut Copied,
) -> Result<(), StoreError> {
    if depth >= MAX_DEPTH {
        return Ok(());
    }
    for referrer in src.referrers(&subject.digest, None)? {
        copy_manifest(src, dst, &referrer, None, 0, copied)?;
        copied.referrers = copied.referrers.saturating_add(1);
        copy_referrers(src, dst, &referrer, depth.saturating_add(1), copied)?;
    }
    Ok(())
}

/// Copies a manifest (or an index and its manifests), its blobs first, as the exact bytes,
/// and returns those bytes.
fn copy_manifest(
    src: &dyn Store,
    dst: &dyn Store,
    descriptor: &Descriptor,
    tag: Option<&str>,
    depth: usize,
    copied: &mut Copied,
) -> Result<Vec<u8>, StoreError> {
    // Counted before recursing, so a hostile chain of nested indexes ends here.
    copied.manifests = copied.manifests.saturating_add(1);
    if copied.manifests > MAX_MANIFESTS || depth > MAX_DEPTH {
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
            copy_manifest(src, dst, child, None, depth.saturating_add(1), copied)?;
        }
    } else {
        let manifest: ImageManifest = serde_json::from_slice(&bytes).map_err(invalid)?;
        for blob in std::iter::once(&manifest.config).chain(&manifest.layers) {
            copy_blob(src, dst, blob, copied)?;
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

fn copy_blob(
    src: &dyn Store,
    dst: &dyn Store,
    blob: &Descriptor,
    copied: &mut Copied,
) -> Result<(), StoreError> {
    if dst.has_blob(&blob.digest)? {
        copied.blobs_skipped = copied.blobs_skipped.saturating_add(1);
        return Ok(());
    }
    if let Some(source) = src.blob_source()
        && dst.mount_blob(&blob.digest, &source)?
    {
        copied.blobs_mounted = copied.blobs_mounted.saturating_add(1);
        return Ok(());
    }
    // A stream cannot be sent twice: after a dropped connection the blob is read again from
    // the source and sent again, a bounded number of times.
    let mut attempt = 1;
    let size = loop {
        let mut reader = src.open_blob(blob)?;
        match dst.push_known_blob(&mut reader, &blob.digest, blob.size) {
            Ok((_, size)) => break size,
            Err(e) if e.is_transient() && attempt < BLOB_ATTEMPTS => {
                attempt = attempt.saturating_add(1)
            }
            Err(e) => return Err(e),
        }
    };
    copied.blobs = copied.blobs.saturating_add(1);
    copied.bytes = copied.bytes.saturating_add(size);
    Ok(())
}

/// Copies a legacy tag. When the destination already has the tag, the layers of both are
/// merged (each layer carries its own signature), so no signature there is dropped.
fn copy_legacy_tag(
    src: &dyn Store,
    dst: &dyn Store,
    tag: &str,
    copied: &mut Copied,
) -> Result<(), StoreError> {
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
        copy_manifest(src, dst, &source, Some(tag), 0, copied)?;
        copied.tags.push(tag.to_string());
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
            copy_blob(src, dst, &layer, copied)?;
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
    let bytes =
        serde_json::to_vec(&legacy::manifest(layers, config)).map_err(|e| StoreError::Invalid {
            what: tag.to_string(),
            reason: e.to_string(),
        })?;
    dst.push_manifest(ManifestPush {
        bytes: &bytes,
        media_type: crate::oci::MEDIA_TYPE_IMAGE_MANIFEST,
        artifact_type: None,
        tag: Some(tag),
        condition: TagCondition::Names(existing.digest.clone()),
    })?;
    copied.tags.push(tag.to_string());
    Ok(())
}

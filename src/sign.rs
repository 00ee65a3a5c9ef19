//! Signing: a resolved subject (always a digest, never a tag) becomes a signature artifact in
//! the store, in cosign's bundle or legacy format. Attaching never drops another signature.

use std::collections::BTreeMap;

use crate::attest::statement::Statement;
use crate::keys::PrivateKey;
use crate::oci::{
    Descriptor, ImageManifest, MEDIA_TYPE_IMAGE_MANIFEST, ManifestPush, Store, StoreError,
    TagCondition, limits,
};
use crate::reference::Target;
use crate::signature::{
    Format, MAX_SIGNATURE_BYTES, SIGN_PREDICATE_TYPE, bundle, legacy, simple_signing,
};

/// How often a legacy signature is re-appended when other writers keep moving the `.sig` tag.
const TAG_UPDATE_ATTEMPTS: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot build the signature: {0}")]
    Build(String),
    #[error("{tag} already holds {count} signatures, the most cosign reads; it cannot take more")]
    Full { tag: String, count: usize },
    #[error(
        "adding the signature would make {tag} {size} bytes, over the limit readers accept; sign in the bundle format instead"
    )]
    TooLarge { tag: String, size: usize },
    #[error("{0} kept changing while the signature was added; try again")]
    Contention(String),
    #[error("the existing {tag} manifest cannot be read: {reason}")]
    Existing { tag: String, reason: String },
}

/// What to sign with and how.
pub struct SignRequest<'a> {
    pub key: &'a PrivateKey,
    pub format: Format,
    /// `-a key=value`: on the statement subject (bundle) or in `optional` (legacy).
    pub annotations: &'a BTreeMap<String, String>,
    /// The repository named in a legacy payload's `docker-reference`.
    pub repository: &'a str,
}

/// Where a signature was stored.
#[derive(Clone, Debug)]
pub struct Signed {
    pub format: Format,
    /// The manifest that holds the signature: the new referrer, or the `.sig` manifest.
    pub manifest: Descriptor,
    /// The `.sig` tag (legacy format).
    pub tag: Option<String>,
    /// False when the very same signature was already there.
    pub added: bool,
}

/// Signs `subject`, which the caller resolved once, by digest.
pub fn sign(
    store: &dyn Store,
    subject: &Descriptor,
    request: &SignRequest<'_>,
) -> Result<Signed, SignError> {
    match request.format {
        Format::Bundle => sign_bundle(store, subject, request),
        Format::Legacy => sign_legacy(store, subject, request),
    }
}

fn now() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .unwrap_or_else(|_| jiff::Timestamp::now())
        .to_string()
}

fn to_json(manifest: &ImageManifest) -> Result<Vec<u8>, SignError> {
    serde_json::to_vec(manifest).map_err(|e| SignError::Build(e.to_string()))
}

fn sign_bundle(
    store: &dyn Store,
    subject: &Descriptor,
    request: &SignRequest<'_>,
) -> Result<Signed, SignError> {
    let statement = Statement::about(
        &subject.digest,
        SIGN_PREDICATE_TYPE,
        serde_json::json!({}),
        request.annotations,
    );
    let bundle_bytes = bundle::build(request.key, &statement).map_err(SignError::Build)?;
    let mut empty = bundle::EMPTY_CONFIG;
    store.push_blob(&mut empty, Some(&bundle::empty_config_descriptor().digest))?;
    let (digest, size) = store.push_blob(&mut bundle_bytes.as_slice(), None)?;
    let layer = Descriptor::new(bundle::MEDIA_TYPE, digest, size);
    let manifest = bundle::referrer_manifest(subject, layer, SIGN_PREDICATE_TYPE, &now());
    let bytes = to_json(&manifest)?;
    let referrer = store.push_manifest(ManifestPush {
        bytes: &bytes,
        media_type: MEDIA_TYPE_IMAGE_MANIFEST,
        artifact_type: Some(bundle::MEDIA_TYPE),
        tag: None,
        condition: TagCondition::Always,
    })?;
    Ok(Signed {
        format: Format::Bundle,
        manifest: referrer,
        tag: None,
        added: true,
    })
}

fn sign_legacy(
    store: &dyn Store,
    subject: &Descriptor,
    request: &SignRequest<'_>,
) -> Result<Signed, SignError> {
    let payload = simple_signing::payload(request.repository, &subject.digest, request.annotations)
        .map_err(|e| SignError::Build(e.to_string()))?;
    let signature = request.key.sign(&payload);
    let layer = legacy::signature_layer(&payload, &signature);
    store.push_blob(&mut payload.as_slice(), Some(&layer.digest))?;
    let tag = legacy::signature_tag(&subject.digest);
    for _ in 0..TAG_UPDATE_ATTEMPTS {
        let (existing, condition) = existing_signatures(store, &tag)?;
        let present = existing.iter().any(|l| {
            l.digest == layer.digest
                && l.annotation(legacy::SIGNATURE_ANNOTATION)
                    == layer.annotation(legacy::SIGNATURE_ANNOTATION)
        });
        if present && let TagCondition::Names(digest) = &condition {
            let manifest = store.resolve(&Target::digest(digest.clone()))?;
            return Ok(Signed {
                format: Format::Legacy,
                manifest,
                tag: Some(tag),
                added: false,
            });
        }
        if existing.len() >= legacy::MAX_LAYERS {
            return Err(SignError::Full {
                tag,
                count: existing.len(),
            });
        }
        let mut layers = existing;
        layers.push(layer.clone());
        let config_bytes = legacy::config_blob(&layers);
        let config_digest = crate::oci::Digest::sha256_of(&config_bytes);
        let (config_digest, config_size) =
            store.push_blob(&mut config_bytes.as_slice(), Some(&config_digest))?;
        let config = Descriptor::new(legacy::CONFIG_MEDIA_TYPE, config_digest, config_size);
        let bytes = to_json(&legacy::manifest(layers, config))?;
        if bytes.len() as u64 > limits::MAX_MANIFEST_BYTES {
            // Writing it would make every signature in it unreadable.
            return Err(SignError::TooLarge {
                tag,
                size: bytes.len(),
            });
        }
        match store.push_manifest(ManifestPush {
            bytes: &bytes,
            media_type: MEDIA_TYPE_IMAGE_MANIFEST,
            artifact_type: None,
            tag: Some(&tag),
            condition,
        }) {
            Ok(manifest) => {
                return Ok(Signed {
                    format: Format::Legacy,
                    manifest,
                    tag: Some(tag),
                    added: true,
                });
            }
            // Another signer got there first: read its manifest and append to it.
            Err(StoreError::TagMoved { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(SignError::Contention(tag))
}

/// The layers of the current `.sig` manifest and the condition that it is still current.
fn existing_signatures(
    store: &dyn Store,
    tag: &str,
) -> Result<(Vec<Descriptor>, TagCondition), SignError> {
    let descriptor = match store.resolve(&Target::tag(tag)) {
        Ok(d) => d,
        Err(StoreError::TagNotFound { .. }) => return Ok((Vec::new(), TagCondition::Absent)),
        Err(e) => return Err(e.into()),
    };
    let existing = |reason: String| SignError::Existing {
        tag: tag.to_string(),
        reason,
    };
    if descriptor.size > limits::MAX_MANIFEST_BYTES {
        return Err(existing(format!("it is {} bytes", descriptor.size)));
    }
    let bytes = store.fetch_manifest(&descriptor)?;
    let manifest: ImageManifest = crate::json::from_slice_strict(&bytes).map_err(existing)?;
    if manifest.layers.iter().any(|l| l.size > MAX_SIGNATURE_BYTES) {
        return Err(existing(
            "it has a layer too large to be a signature".into(),
        ));
    }
    Ok((manifest.layers, TagCondition::Names(descriptor.digest)))
}

//! Signing: a resolved subject (always a digest, never a tag) becomes a signature artifact in
//! the store, in cosign's bundle or legacy format. Attaching never drops another signature.

use std::collections::BTreeMap;

use crate::attest::statement::Statement;
use crate::oci::{
    Descriptor, ImageManifest, MEDIA_TYPE_IMAGE_MANIFEST, ManifestPush, Store, StoreError,
    TagCondition, limits,
};
use crate::reference::Target;
use crate::signature::{
    Format, MAX_SIGNATURE_BYTES, SIGN_PREDICATE_TYPE, bundle, legacy, sigstore_annotations,
    simple_signing,
};
use crate::sigstore::{Evidence, SigstoreSigner};

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
    pub signer: &'a SigstoreSigner<'a>,
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
    push_bundle_referrer(store, subject, request.signer, &statement)
}

/// Signs `statement` into a bundle and pushes it as a referrer of `subject`, cosign v3's way,
/// with the statement's predicate type in the `dev.sigstore.bundle.predicateType` annotation.
pub(crate) fn push_bundle_referrer(
    store: &dyn Store,
    subject: &Descriptor,
    signer: &SigstoreSigner<'_>,
    statement: &Statement,
) -> Result<Signed, SignError> {
    let bundle_bytes = bundle::build(signer, statement).map_err(SignError::Build)?;
    let mut empty = bundle::EMPTY_CONFIG;
    store.push_blob(&mut empty, Some(&bundle::empty_config_descriptor().digest))?;
    let (digest, size) = store.push_blob(&mut bundle_bytes.as_slice(), None)?;
    let layer = Descriptor::new(bundle::MEDIA_TYPE, digest, size);
    let manifest = bundle::referrer_manifest(
        subject,
        layer,
        &statement.predicate_type,
        &crate::clock::now_text(),
    );
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
    let (signature, evidence) = request
        .signer
        .sign_message(&payload)
        .map_err(SignError::Build)?;
    let mut layer = legacy::signature_layer(&payload, &signature);
    add_evidence(&mut layer, &evidence)?;
    let tag = legacy::signature_tag(&subject.digest);
    append_legacy_layer(store, &tag, layer, &payload, MAX_SIGNATURE_BYTES)
}

/// Adds a signature's evidence to a legacy layer, in cosign's annotations: a keyless
/// signature's certificate and chain, the log entry and the timestamp.
pub(crate) fn add_evidence(layer: &mut Descriptor, evidence: &Evidence) -> Result<(), SignError> {
    let Some(entry) = &evidence.log_entry else {
        return Ok(());
    };
    let rekor = entry.to_rekor_bundle();
    let annotations = layer.annotations.get_or_insert_with(Default::default);
    let extra = sigstore_annotations::annotations(
        &evidence.certificates,
        &rekor,
        evidence.timestamp.as_deref(),
    )
    .map_err(SignError::Build)?;
    annotations.extend(extra);
    Ok(())
}

/// Appends `layer` (whose content is `blob`) to the manifest at the legacy tag `tag`, cosign
/// v2's way: read the manifest, add the layer, push it only if the tag has not moved
/// meanwhile, and start over if it has. The same layer (content and annotations) is not
/// added twice. Existing layers over `max_layer_bytes` make the manifest suspect.
pub(crate) fn append_legacy_layer(
    store: &dyn Store,
    tag: &str,
    layer: Descriptor,
    blob: &[u8],
    max_layer_bytes: u64,
) -> Result<Signed, SignError> {
    store.push_blob(&mut &blob[..], Some(&layer.digest))?;
    let tag = tag.to_string();
    for _ in 0..TAG_UPDATE_ATTEMPTS {
        let (existing, condition) = existing_layers(store, &tag, max_layer_bytes)?;
        let present = existing
            .iter()
            .any(|l| l.digest == layer.digest && l.annotations == layer.annotations);
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

/// The layers of the manifest at a legacy tag and the condition that it is still current.
fn existing_layers(
    store: &dyn Store,
    tag: &str,
    max_layer_bytes: u64,
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
    if manifest.layers.iter().any(|l| l.size > max_layer_bytes) {
        return Err(existing(format!(
            "it has a layer over {max_layer_bytes} bytes, too large to be a signature or attestation"
        )));
    }
    Ok((manifest.layers, TagCondition::Names(descriptor.digest)))
}

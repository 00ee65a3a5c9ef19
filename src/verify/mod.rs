//! Verification: a subject digest, its referrers and legacy `.sig` layers, each checked
//! cryptographically over the exact bytes read (with a key, or keylessly against a trusted
//! root and an identity), bound to the digest, and of the signature type. Anything that fails
//! is a rejection with its reason; nothing unverified counts.

mod authority;

use std::collections::BTreeMap;

pub use authority::{Authority, KeyAuthority};

use crate::oci::{
    ANNOTATION_CREATED, Descriptor, Digest, ImageManifest, Store, StoreError, fetch_blob,
};
use crate::reference::Target;
use crate::signature::sigstore_annotations::Content;
use crate::signature::{
    Format, MAX_SIGNATURE_BYTES, SIGN_PREDICATE_TYPE, bundle, legacy, simple_signing,
};

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The store could not be read, or what it holds is damaged: nothing can be said about
    /// the signatures.
    #[error("cannot read the signatures")]
    Store(#[from] StoreError),
}

/// One signature found for the subject, and what checking it gave.
#[derive(Clone, Debug)]
pub struct Checked {
    pub format: Format,
    /// The referrer manifest (bundle) or the `.sig` layer (legacy).
    pub source: Descriptor,
    /// The creation time the referrer claims (not covered by the signature).
    pub created: Option<String>,
    pub outcome: Result<(), String>,
    /// When a transparency log recorded it (RFC 3339), if it verified and was logged.
    pub logged: Option<String>,
}

/// Every signature found for a subject.
#[derive(Clone, Debug)]
pub struct Verification {
    pub subject: Descriptor,
    pub signatures: Vec<Checked>,
}

impl Verification {
    pub fn is_verified(&self) -> bool {
        self.signatures.iter().any(|s| s.outcome.is_ok())
    }
}

/// What a signature must satisfy besides its cryptography.
pub struct Expectations<'a> {
    pub authority: &'a Authority,
    /// `-a key=value` that the signed subject must carry.
    pub annotations: &'a BTreeMap<String, String>,
}

/// Finds and checks every signature of `subject` (resolved once by the caller, by digest).
/// Errors reading the store are errors, never "unsigned".
pub fn verify_signatures(
    store: &dyn Store,
    subject: &Descriptor,
    expect: &Expectations<'_>,
) -> Result<Verification, VerifyError> {
    // The subject itself must be present and intact.
    store.fetch_manifest(subject)?;
    let mut signatures = Vec::new();
    for referrer in store.referrers(&subject.digest, None)? {
        let is_bundle = referrer
            .artifact_type
            .as_deref()
            .is_some_and(|t| t.starts_with(bundle::MEDIA_TYPE_PREFIX));
        // A referrer that says it holds an attestation is not a signature. The claim is not
        // signed, so it can only hide a referrer from this check, never admit one.
        let attestation = referrer
            .annotation(bundle::ANNOTATION_PREDICATE_TYPE)
            .is_some_and(|t| t != SIGN_PREDICATE_TYPE);
        if !is_bundle || attestation {
            continue;
        }
        let created = referrer.annotation(ANNOTATION_CREATED).map(str::to_string);
        let (outcome, logged) = split(contain(check_bundle_referrer(
            store,
            &referrer,
            &subject.digest,
            expect,
        ))?);
        signatures.push(Checked {
            format: Format::Bundle,
            source: referrer,
            created,
            outcome,
            logged,
        });
    }
    check_legacy(store, subject, expect, &mut signatures)?;
    Ok(Verification {
        subject: subject.clone(),
        signatures,
    })
}

/// A check's result as reports hold it: the outcome, and when a log recorded what verified.
pub(crate) fn split<T>(
    result: Result<(T, Option<String>), String>,
) -> (Result<T, String>, Option<String>) {
    match result {
        Ok((value, logged)) => (Ok(value), logged),
        Err(reason) => (Err(reason), None),
    }
}

/// A failure of one signature becomes its rejection reason (bad content, or content that is
/// not there); a store that cannot be read or a registry that fails stops the whole
/// verification, which then says nothing about the signatures.
pub(crate) fn contain<T>(result: Result<T, Failure>) -> Result<Result<T, String>, VerifyError> {
    match result {
        Ok(value) => Ok(Ok(value)),
        Err(Failure::Rejected(reason)) => Ok(Err(reason)),
        Err(Failure::Store(e))
            if e.is_integrity_failure() || matches!(e, StoreError::NotFound { .. }) =>
        {
            Ok(Err(e.to_string()))
        }
        Err(Failure::Store(e)) => Err(VerifyError::Store(e)),
    }
}

pub(crate) enum Failure {
    Store(StoreError),
    Rejected(String),
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::Store(e)
    }
}

impl From<String> for Failure {
    fn from(reason: String) -> Self {
        Failure::Rejected(reason)
    }
}

fn check_bundle_referrer(
    store: &dyn Store,
    referrer: &Descriptor,
    subject: &Digest,
    expect: &Expectations<'_>,
) -> Result<((), Option<String>), Failure> {
    let (statement, logged) = open_bundle_referrer(
        store,
        referrer,
        subject,
        expect.authority,
        MAX_SIGNATURE_BYTES,
    )?;
    if statement.predicate_type != SIGN_PREDICATE_TYPE {
        return Err(Failure::Rejected(format!(
            "it is an attestation ({}), not a signature",
            statement.predicate_type
        )));
    }
    let Some(signed) = statement.subject_for(subject) else {
        return Err(Failure::Rejected(format!(
            "it signs {}, not {subject}",
            statement.subject_digests().join(", ")
        )));
    };
    if !signed.has_annotations(expect.annotations) {
        return Err(Failure::Rejected(
            "the signed subject lacks a required annotation (-a)".into(),
        ));
    }
    Ok(((), logged))
}

/// Reads a bundle referrer of `subject`, at most `max_bytes` of bundle, and returns the
/// statement its DSSE envelope carries once `authority` verified it over the exact bytes read,
/// and when a transparency log recorded it, if it did.
pub(crate) fn open_bundle_referrer(
    store: &dyn Store,
    referrer: &Descriptor,
    subject: &Digest,
    authority: &Authority,
    max_bytes: u64,
) -> Result<(crate::attest::statement::Statement, Option<String>), Failure> {
    let bytes = store.fetch_manifest(referrer)?;
    let manifest: ImageManifest = crate::json::from_slice_strict(&bytes)
        .map_err(|e| format!("the referrer manifest is not valid: {e}"))?;
    if manifest.subject.as_ref().map(|s| &s.digest) != Some(subject) {
        return Err(Failure::Rejected(
            "the referrer's subject is another artifact".into(),
        ));
    }
    let [layer] = manifest.layers.as_slice() else {
        return Err(Failure::Rejected(format!(
            "a bundle referrer has one layer, this one has {}",
            manifest.layers.len()
        )));
    };
    if !layer.media_type.starts_with(bundle::MEDIA_TYPE_PREFIX) {
        return Err(Failure::Rejected(format!(
            "its layer is {:?}, not a Sigstore bundle",
            layer.media_type
        )));
    }
    let blob = fetch_blob(store, layer, max_bytes)?;
    let parsed = bundle::parse(&blob)?;
    Ok(authority.open_bundle(&parsed, subject)?)
}

fn check_legacy(
    store: &dyn Store,
    subject: &Descriptor,
    expect: &Expectations<'_>,
    signatures: &mut Vec<Checked>,
) -> Result<(), VerifyError> {
    let tag = legacy::signature_tag(&subject.digest);
    let descriptor = match store.resolve(&Target::tag(&tag)) {
        Ok(d) => d,
        Err(StoreError::TagNotFound { .. }) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let manifest = match read_legacy_manifest(store, &descriptor, ".sig") {
        Ok(m) => m,
        Err(failure) => {
            let outcome = contain(Err(failure))?;
            signatures.push(Checked {
                format: Format::Legacy,
                source: descriptor,
                created: None,
                outcome,
                logged: None,
            });
            return Ok(());
        }
    };
    for layer in manifest.layers {
        let (outcome, logged) = split(contain(check_legacy_layer(
            store,
            &layer,
            &subject.digest,
            expect,
        ))?);
        signatures.push(Checked {
            format: Format::Legacy,
            source: layer,
            created: None,
            outcome,
            logged,
        });
    }
    Ok(())
}

/// The manifest of a legacy `.sig` or `.att` tag (`kind`), read strictly and refused whole
/// past the layer limit cosign reads.
pub(crate) fn read_legacy_manifest(
    store: &dyn Store,
    descriptor: &Descriptor,
    kind: &str,
) -> Result<ImageManifest, Failure> {
    let bytes = store.fetch_manifest(descriptor)?;
    let manifest: ImageManifest = crate::json::from_slice_strict(&bytes)
        .map_err(|e| format!("the {kind} manifest is not valid: {e}"))?;
    if manifest.layers.len() > legacy::MAX_LAYERS {
        return Err(Failure::Rejected(format!(
            "the {kind} manifest has {} layers, over the limit of {}",
            manifest.layers.len(),
            legacy::MAX_LAYERS
        )));
    }
    Ok(manifest)
}

fn check_legacy_layer(
    store: &dyn Store,
    layer: &Descriptor,
    subject: &Digest,
    expect: &Expectations<'_>,
) -> Result<((), Option<String>), Failure> {
    if layer.media_type != simple_signing::MEDIA_TYPE {
        return Err(Failure::Rejected(format!(
            "the layer is {:?}, not a simple-signing payload",
            layer.media_type
        )));
    }
    let signature = legacy::layer_signature(layer)?;
    let payload = fetch_blob(store, layer, MAX_SIGNATURE_BYTES)?;
    let content = Content::Message {
        payload: &payload,
        signature: &signature,
    };
    let logged = expect.authority.verify_layer(layer, content, subject)?;
    simple_signing::check(&payload, subject, expect.annotations)?;
    Ok(((), logged))
}

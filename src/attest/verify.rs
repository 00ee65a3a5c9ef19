//! Verifying attestations: every bundle referrer and every layer of the legacy `.att` tag of a
//! subject, each DSSE signature checked over the exact bytes read (with the key, or keylessly
//! against the trusted root and the identity), the statement read strictly (v1 or v0.1), its
//! subject required to name the digest and its predicate type required to be the one asked
//! for. Nothing unverified counts.

use sigstore_types::dsse::DsseEnvelope;

use super::attach::{DSSE_MEDIA_TYPE, PREDICATE_TYPE_ANNOTATION};
use super::predicate::MAX_ATTESTATION_BYTES;
use super::slsa;
use super::statement::{PAYLOAD_TYPE, Statement};
use crate::oci::{Descriptor, Digest, Store, StoreError, fetch_blob};
use crate::reference::Target;
use crate::signature::sigstore_annotations::Content;
use crate::signature::{Format, SIGN_PREDICATE_TYPE, bundle, legacy};
use crate::verify::{
    Authority, Failure, VerifyError, contain, open_bundle_referrer, read_legacy_manifest, split,
};

/// One attestation found for the subject, and what checking it gave: the verified statement,
/// or why it does not count.
#[derive(Clone, Debug)]
pub struct CheckedAttestation {
    pub format: Format,
    /// The referrer manifest (bundle) or the `.att` layer (legacy).
    pub source: Descriptor,
    pub outcome: Result<Statement, String>,
    /// When a transparency log recorded it (RFC 3339), if it verified and was logged.
    pub logged: Option<String>,
}

/// Finds and checks the attestations of type `predicate_type` of `subject` (resolved once by
/// the caller, by digest). Attestations that say they are of another type are passed over;
/// what they say is not signed, so it can only hide one, never admit one.
pub fn verify_attestations(
    store: &dyn Store,
    subject: &Descriptor,
    authority: &Authority,
    predicate_type: &str,
) -> Result<Vec<CheckedAttestation>, VerifyError> {
    // The subject itself must be present and intact.
    store.fetch_manifest(subject)?;
    let mut checked = Vec::new();
    for referrer in store.referrers(&subject.digest, None)? {
        let is_bundle = referrer
            .artifact_type
            .as_deref()
            .is_some_and(|t| t.starts_with(bundle::MEDIA_TYPE_PREFIX));
        let claimed = referrer.annotation(bundle::ANNOTATION_PREDICATE_TYPE);
        if !is_bundle || claimed.is_some_and(|t| t != predicate_type) {
            continue;
        }
        // A signature is no attestation, whatever is asked for.
        if claimed == Some(SIGN_PREDICATE_TYPE) {
            continue;
        }
        let (outcome, logged) = split(contain(
            open_bundle_referrer(
                store,
                &referrer,
                &subject.digest,
                authority,
                MAX_ATTESTATION_BYTES,
            )
            .and_then(|opened| check_statement(opened, &subject.digest, predicate_type)),
        )?);
        checked.push(CheckedAttestation {
            format: Format::Bundle,
            source: referrer,
            outcome,
            logged,
        });
    }
    check_legacy(
        store,
        &subject.digest,
        authority,
        predicate_type,
        &mut checked,
    )?;
    Ok(checked)
}

/// The statement must be about `subject` and of the type asked for (the check cosign once
/// lacked, GHSA-w6c6-c85g-mmv6).
fn check_statement(
    (statement, logged): (Statement, Option<String>),
    subject: &Digest,
    predicate_type: &str,
) -> Result<(Statement, Option<String>), Failure> {
    if statement.subject_for(subject).is_none() {
        return Err(Failure::Rejected(format!(
            "it attests {}, not {subject}",
            statement.subject_digests().join(", ")
        )));
    }
    if statement.predicate_type != predicate_type {
        return Err(Failure::Rejected(format!(
            "it is a {} statement, not {predicate_type}",
            statement.predicate_type
        )));
    }
    // Provenance is read as the typed document it claims to be.
    if slsa::is_provenance(predicate_type) {
        slsa::parse(predicate_type, &statement.predicate).map_err(Failure::Rejected)?;
    }
    Ok((statement, logged))
}

fn check_legacy(
    store: &dyn Store,
    subject: &Digest,
    authority: &Authority,
    predicate_type: &str,
    checked: &mut Vec<CheckedAttestation>,
) -> Result<(), VerifyError> {
    let tag = legacy::attestation_tag(subject);
    let descriptor = match store.resolve(&Target::tag(&tag)) {
        Ok(d) => d,
        Err(StoreError::TagNotFound { .. }) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let manifest = match contain(read_legacy_manifest(store, &descriptor, ".att"))? {
        Ok(manifest) => manifest,
        Err(reason) => {
            checked.push(CheckedAttestation {
                format: Format::Legacy,
                source: descriptor,
                outcome: Err(reason),
                logged: None,
            });
            return Ok(());
        }
    };
    for layer in manifest.layers {
        if layer
            .annotation(PREDICATE_TYPE_ANNOTATION)
            .is_some_and(|t| t != predicate_type)
        {
            continue;
        }
        let (outcome, logged) = split(contain(
            open_envelope_layer(store, &layer, subject, authority)
                .and_then(|opened| check_statement(opened, subject, predicate_type)),
        )?);
        checked.push(CheckedAttestation {
            format: Format::Legacy,
            source: layer,
            outcome,
            logged,
        });
    }
    Ok(())
}

/// Reads a legacy attestation layer (a DSSE envelope) and returns its statement once
/// `authority` verified it over the exact payload bytes, and when a log recorded it.
fn open_envelope_layer(
    store: &dyn Store,
    layer: &Descriptor,
    subject: &Digest,
    authority: &Authority,
) -> Result<(Statement, Option<String>), Failure> {
    if layer.media_type != DSSE_MEDIA_TYPE {
        return Err(Failure::Rejected(format!(
            "the layer is {:?}, not a DSSE envelope",
            layer.media_type
        )));
    }
    let bytes = fetch_blob(store, layer, MAX_ATTESTATION_BYTES)?;
    let envelope: DsseEnvelope = crate::json::from_slice_strict(&bytes)
        .map_err(|e| format!("the DSSE envelope is not valid: {e}"))?;
    if envelope.payload_type != PAYLOAD_TYPE {
        return Err(Failure::Rejected(format!(
            "the envelope's payload type is {:?}, not {PAYLOAD_TYPE}",
            envelope.payload_type
        )));
    }
    let logged = authority.verify_layer(layer, Content::Envelope(&envelope), subject)?;
    Ok((bundle::read_statement(&envelope)?, logged))
}

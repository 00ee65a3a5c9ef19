//! Attaching an attestation: an in-toto statement about the subject's digest, signed as a DSSE
//! envelope, stored as a bundle referrer (cosign v3 `attest`) or as a layer of the legacy
//! `sha256-<hex>.att` tag (cosign v2).

use serde_json::Value;

use super::predicate::MAX_ATTESTATION_BYTES;
use super::statement::{PAYLOAD_TYPE, Statement};
use crate::oci::{Annotations, Descriptor, Digest, Store};
use crate::sign::{SignError, Signed, add_evidence, append_legacy_layer, push_bundle_referrer};
use crate::signature::{Format, legacy};
use crate::sigstore::SigstoreSigner;

/// The media type of a legacy attestation layer: the DSSE envelope itself.
pub const DSSE_MEDIA_TYPE: &str = "application/vnd.dsse.envelope.v1+json";
/// The bare annotation cosign v2 puts the predicate type in on `.att` layers.
pub const PREDICATE_TYPE_ANNOTATION: &str = "predicateType";

/// What to attest and how.
pub struct AttestRequest<'a> {
    pub signer: &'a SigstoreSigner<'a>,
    pub format: Format,
    pub predicate_type: &'a str,
    pub predicate: Value,
    /// Names the subject in the statement, as cosign does: the repository.
    pub repository: &'a str,
}

/// Attests `subject`, which the caller resolved once, by digest.
pub fn attest(
    store: &dyn Store,
    subject: &Descriptor,
    request: AttestRequest<'_>,
) -> Result<Signed, SignError> {
    let statement = Statement::named(
        &subject.digest,
        request.repository,
        request.predicate_type,
        request.predicate,
    );
    match request.format {
        Format::Bundle => push_bundle_referrer(store, subject, request.signer, &statement),
        Format::Legacy => attach_legacy(store, &subject.digest, request.signer, &statement),
    }
}

fn attach_legacy(
    store: &dyn Store,
    subject: &Digest,
    signer: &SigstoreSigner<'_>,
    statement: &Statement,
) -> Result<Signed, SignError> {
    let payload = serde_json::to_vec(statement).map_err(|e| SignError::Build(e.to_string()))?;
    let (envelope, evidence) = signer
        .sign_envelope(PAYLOAD_TYPE, payload)
        .map_err(SignError::Build)?;
    let bytes = serde_json::to_vec(&envelope).map_err(|e| SignError::Build(e.to_string()))?;
    if bytes.len() as u64 > MAX_ATTESTATION_BYTES {
        return Err(SignError::Build(format!(
            "the signed attestation is {} bytes, over the limit of {MAX_ATTESTATION_BYTES} bytes readers accept",
            bytes.len()
        )));
    }
    let mut layer = Descriptor::new(
        DSSE_MEDIA_TYPE,
        Digest::sha256_of(&bytes),
        bytes.len() as u64,
    );
    // cosign always sets the signature annotation; on an attestation it is empty, the
    // signature being inside the envelope.
    layer.annotations = Some(Annotations::from([
        (
            PREDICATE_TYPE_ANNOTATION.to_string(),
            statement.predicate_type.clone(),
        ),
        (legacy::SIGNATURE_ANNOTATION.to_string(), String::new()),
    ]));
    add_evidence(&mut layer, &evidence)?;
    let tag = legacy::attestation_tag(subject);
    append_legacy_layer(store, &tag, layer, &bytes, MAX_ATTESTATION_BYTES)
}

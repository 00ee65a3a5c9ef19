//! cosign v3 signatures: a DSSE-signed in-toto statement in a Sigstore bundle v0.3, stored as
//! an OCI 1.1 referrer of the signed manifest.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sigstore_bundle::{BundleV03, VerificationMaterialV03};
use sigstore_types::bundle::TransparencyLogEntry;
use sigstore_types::{
    Bundle, DerCertificate, DsseEnvelope, SignatureContent, TimestampToken,
    VerificationMaterialContent,
};

use crate::attest::dsse;
use crate::attest::statement::{PAYLOAD_TYPE, Statement};
use crate::keys::{KeyError, PublicKey};
use crate::oci::{
    ANNOTATION_CREATED, Annotations, Descriptor, Digest, ImageManifest, MEDIA_TYPE_EMPTY,
    MEDIA_TYPE_IMAGE_MANIFEST,
};
use crate::sigstore::SigstoreSigner;

pub const MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// Every bundle media type starts so (v0.1 and v0.2 carry a version parameter).
pub const MEDIA_TYPE_PREFIX: &str = "application/vnd.dev.sigstore.bundle";
pub const ANNOTATION_CONTENT: &str = "dev.sigstore.bundle.content";
pub const ANNOTATION_PREDICATE_TYPE: &str = "dev.sigstore.bundle.predicateType";
pub const CONTENT_DSSE: &str = "dsse-envelope";
/// The empty config every referrer carries: `{}`.
pub const EMPTY_CONFIG: &[u8] = b"{}";

/// The key hint cosign and sigstore-go write: standard base64 of SHA-256 over the PKIX DER.
pub fn key_hint(key: &PublicKey) -> Result<String, KeyError> {
    let digest = Digest::sha256_of(&key.to_spki_der()?);
    let raw = hex::decode(digest.hex()).map_err(|e| KeyError::Invalid(e.to_string()))?;
    Ok(STANDARD.encode(raw))
}

/// Signs `statement` and wraps it in a bundle with the signature's evidence: the certificate
/// of a keyless signature (else the key hint), the transparency log entry and the timestamp
/// when there are.
pub fn build(signer: &SigstoreSigner<'_>, statement: &Statement) -> Result<Vec<u8>, String> {
    let payload = serde_json::to_vec(statement).map_err(|e| e.to_string())?;
    let (envelope, evidence) = signer.sign_envelope(PAYLOAD_TYPE, payload)?;
    let material = match evidence.certificates.first() {
        Some(leaf) => VerificationMaterialV03::Certificate(DerCertificate::new(leaf.clone())),
        None => VerificationMaterialV03::PublicKey {
            hint: key_hint(&signer.private_key().public_key()).map_err(|e| e.to_string())?,
        },
    };
    let mut bundle = BundleV03::new(material, SignatureContent::DsseEnvelope(envelope));
    if let Some(entry) = &evidence.log_entry {
        let entry: TransparencyLogEntry = serde_json::from_value(entry.to_bundle_entry()?)
            .map_err(|e| format!("the transparency log entry does not fit a bundle: {e}"))?;
        bundle = bundle.with_tlog_entry(entry);
    }
    if let Some(stamp) = &evidence.timestamp {
        bundle = bundle.with_rfc3161_timestamp(TimestampToken::new(stamp.clone()));
    }
    bundle
        .into_bundle()
        .to_json()
        .map(String::into_bytes)
        .map_err(|e| e.to_string())
}

pub fn empty_config_descriptor() -> Descriptor {
    Descriptor::new(MEDIA_TYPE_EMPTY, Digest::sha256_of(EMPTY_CONFIG), 2)
}

/// The referrer manifest cosign v3 pushes: empty config, the bundle as the only layer,
/// `subject` the signed manifest.
pub fn referrer_manifest(
    subject: &Descriptor,
    bundle: Descriptor,
    predicate_type: &str,
    created: &str,
) -> ImageManifest {
    ImageManifest {
        schema_version: 2,
        media_type: Some(MEDIA_TYPE_IMAGE_MANIFEST.into()),
        artifact_type: Some(MEDIA_TYPE.into()),
        config: empty_config_descriptor(),
        layers: vec![bundle],
        subject: Some(Descriptor::new(
            subject.media_type.clone(),
            subject.digest.clone(),
            subject.size,
        )),
        annotations: Some(Annotations::from([
            (ANNOTATION_CONTENT.to_string(), CONTENT_DSSE.to_string()),
            (
                ANNOTATION_PREDICATE_TYPE.to_string(),
                predicate_type.to_string(),
            ),
            (ANNOTATION_CREATED.to_string(), created.to_string()),
        ])),
    }
}

/// Parses bundle bytes strictly: UTF-8, no repeated keys, one DSSE signature at most.
pub fn parse(bytes: &[u8]) -> Result<Bundle, String> {
    crate::json::check_unique_keys(bytes)
        .map_err(|e| format!("the bundle is not valid JSON: {e}"))?;
    let text = std::str::from_utf8(bytes).map_err(|e| format!("the bundle is not UTF-8: {e}"))?;
    Bundle::from_json(text).map_err(|e| format!("the bundle is malformed: {e}"))
}

/// Verifies a key-signed bundle's DSSE envelope with `key` over the exact payload bytes, and
/// returns the statement it carries, read strictly.
pub fn open(bundle: &Bundle, key: &PublicKey) -> Result<Statement, String> {
    match &bundle.verification_material.content {
        VerificationMaterialContent::PublicKey(_) => {}
        _ => {
            return Err(
                "the bundle is signed with a certificate (keyless); verifying it needs an identity, not --key".into(),
            );
        }
    }
    let envelope = envelope(bundle)?;
    dsse::verify(key, envelope).map_err(|e| e.to_string())?;
    read_statement(envelope)
}

/// The in-toto envelope a bundle holds.
fn envelope(bundle: &Bundle) -> Result<&DsseEnvelope, String> {
    let SignatureContent::DsseEnvelope(envelope) = &bundle.content else {
        return Err("the bundle holds a message signature, not a DSSE envelope".into());
    };
    if envelope.payload_type != PAYLOAD_TYPE {
        return Err(format!(
            "the envelope's payload type is {:?}, not {PAYLOAD_TYPE}",
            envelope.payload_type
        ));
    }
    Ok(envelope)
}

/// The statement of a bundle whose signature was verified otherwise (keyless), read strictly.
pub fn statement(bundle: &Bundle) -> Result<Statement, String> {
    read_statement(envelope(bundle)?)
}

/// Reads the statement of an envelope strictly: the payload bytes as signed.
pub fn read_statement(envelope: &DsseEnvelope) -> Result<Statement, String> {
    let statement: Statement = crate::json::from_slice_strict(envelope.payload.as_bytes())
        .map_err(|e| format!("the signed statement is not valid: {e}"))?;
    if !statement.is_known_kind() {
        return Err(format!("unknown statement type {:?}", statement.kind));
    }
    Ok(statement)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{Algorithm, PrivateKey};
    use std::collections::BTreeMap;

    #[test]
    fn key_hint_is_base64_of_the_spki_digest() {
        let key = PrivateKey::generate(Algorithm::EcdsaP256).unwrap();
        let hint = key_hint(&key.public_key()).unwrap();
        let raw = STANDARD.decode(&hint).unwrap();
        assert_eq!(
            hex::encode(raw),
            Digest::sha256_of(&key.public_key().to_spki_der().unwrap()).hex()
        );
    }

    #[test]
    fn a_built_bundle_opens_with_its_key_only() {
        let key = PrivateKey::generate(Algorithm::EcdsaP256).unwrap();
        let digest = Digest::sha256_of(b"manifest");
        let statement = Statement::about(
            &digest,
            super::super::SIGN_PREDICATE_TYPE,
            serde_json::json!({}),
            &BTreeMap::new(),
        );
        let bytes = build(&SigstoreSigner::with_key(&key), &statement).unwrap();
        let bundle = parse(&bytes).unwrap();
        assert_eq!(bundle.media_type.as_str(), MEDIA_TYPE);
        assert_eq!(open(&bundle, &key.public_key()).unwrap(), statement);
        let other = PrivateKey::generate(Algorithm::EcdsaP256).unwrap();
        assert!(open(&bundle, &other.public_key()).is_err());
        let ed = PrivateKey::generate(Algorithm::Ed25519).unwrap();
        assert!(open(&bundle, &ed.public_key()).is_err());
    }

    #[test]
    fn referrer_manifest_has_cosigns_layout() {
        let subject = Descriptor::new(MEDIA_TYPE_IMAGE_MANIFEST, Digest::sha256_of(b"m"), 1);
        let bundle = Descriptor::new(MEDIA_TYPE, Digest::sha256_of(b"b"), 1);
        let m = referrer_manifest(&subject, bundle, "p", "2026-01-01T00:00:00Z");
        let json = serde_json::to_value(&m).unwrap();
        assert_eq!(json["artifactType"], MEDIA_TYPE);
        assert_eq!(json["config"]["mediaType"], MEDIA_TYPE_EMPTY);
        assert_eq!(
            json["config"]["digest"],
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert_eq!(json["config"]["size"], 2);
        assert_eq!(json["layers"][0]["mediaType"], MEDIA_TYPE);
        assert_eq!(json["subject"]["digest"], subject.digest.to_string());
        assert_eq!(json["annotations"][ANNOTATION_CONTENT], CONTENT_DSSE);
        assert_eq!(json["annotations"][ANNOTATION_PREDICATE_TYPE], "p");
        assert_eq!(
            json["annotations"]["org.opencontainers.image.created"],
            "2026-01-01T00:00:00Z"
        );
    }
}

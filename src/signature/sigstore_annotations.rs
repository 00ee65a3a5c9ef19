//! The Sigstore material cosign v2 keeps in the annotations of a legacy `.sig` or `.att`
//! layer: the Fulcio certificate and chain (PEM), the Rekor entry with its signed entry
//! timestamp (`dev.sigstore.cosign/bundle`, Go field names, hex log ID) and an RFC 3161
//! timestamp. Read, they make the Sigstore bundle v0.1 they are equivalent to, so that one
//! verifier checks both formats; written, they are what cosign reads.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sigstore_types::{Bundle, DsseEnvelope};

use crate::oci::{Annotations, Descriptor};

pub const CERTIFICATE: &str = "dev.sigstore.cosign/certificate";
pub const CHAIN: &str = "dev.sigstore.cosign/chain";
pub const REKOR_BUNDLE: &str = "dev.sigstore.cosign/bundle";
pub const TIMESTAMP: &str = "dev.sigstore.cosign/rfc3161timestamp";

/// cosign's `RekorBundle`: the logged entry and the log's promise over it.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RekorBundle {
    #[serde(rename = "SignedEntryTimestamp")]
    pub signed_entry_timestamp: String,
    #[serde(rename = "Payload")]
    pub payload: RekorPayload,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RekorPayload {
    /// Base64 of the canonicalized entry.
    pub body: String,
    pub integrated_time: i64,
    pub log_index: i64,
    /// Hex SHA-256 of the log's public key.
    #[serde(rename = "logID")]
    pub log_id: String,
}

#[derive(Deserialize, Serialize)]
struct SignedTimestamp {
    #[serde(rename = "SignedRFC3161Timestamp")]
    signed: String,
}

/// What a legacy layer signs.
#[derive(Clone, Copy)]
pub enum Content<'a> {
    /// A simple-signing payload and its signature.
    Message {
        payload: &'a [u8],
        signature: &'a [u8],
    },
    /// A DSSE envelope (the layer itself, for attestations).
    Envelope(&'a DsseEnvelope),
}

/// Whether the layer carries a certificate (a keyless signature).
pub fn has_certificate(layer: &Descriptor) -> bool {
    layer.annotation(CERTIFICATE).is_some_and(|c| !c.is_empty())
}

/// The bundle a keyless legacy layer amounts to. A layer without a certificate or without a
/// Rekor entry is no keyless signature cosign would accept.
pub fn to_bundle(layer: &Descriptor, content: Content<'_>) -> Result<Bundle, String> {
    let certificate = layer
        .annotation(CERTIFICATE)
        .filter(|c| !c.is_empty())
        .ok_or("the layer has no certificate: it is not signed keylessly")?;
    let mut certificates = pem_certificates(certificate, "certificate")?;
    if certificates.len() != 1 {
        return Err(format!(
            "the certificate annotation holds {} certificates, not one",
            certificates.len()
        ));
    }
    if let Some(chain) = layer.annotation(CHAIN).filter(|c| !c.is_empty()) {
        certificates.extend(pem_certificates(chain, "chain")?);
    }
    let material = serde_json::json!({
        "certificates": certificates
            .iter()
            .map(|der| serde_json::json!({"rawBytes": STANDARD.encode(der)}))
            .collect::<Vec<_>>(),
    });
    assemble(layer, ("x509CertificateChain", material), content)
}

/// The bundle a key-based legacy layer with a Rekor entry amounts to (`hint`: the key's, as
/// bundles carry it), so that its entry is verified as a bundle's would be.
pub fn to_key_bundle(
    layer: &Descriptor,
    content: Content<'_>,
    hint: &str,
) -> Result<Bundle, String> {
    if has_certificate(layer) {
        return Err(
            "the layer carries a certificate: it is signed keylessly, not with a key".into(),
        );
    }
    assemble(
        layer,
        ("publicKey", serde_json::json!({"hint": hint})),
        content,
    )
}

/// A v0.1 bundle of the layer's Rekor entry and timestamp, the signer's `material`, and what
/// the layer signs.
fn assemble(
    layer: &Descriptor,
    material: (&str, Value),
    content: Content<'_>,
) -> Result<Bundle, String> {
    let rekor = layer
        .annotation(REKOR_BUNDLE)
        .ok_or("the layer has no transparency log entry (dev.sigstore.cosign/bundle)")?;
    crate::json::check_unique_keys(rekor.as_bytes())
        .map_err(|e| format!("the transparency log entry is not valid JSON: {e}"))?;
    let rekor: RekorBundle = serde_json::from_str(rekor)
        .map_err(|e| format!("the transparency log entry is not valid: {e}"))?;
    let mut verification = serde_json::Map::new();
    verification.insert(material.0.into(), material.1);
    verification.insert(
        "tlogEntries".into(),
        Value::Array(vec![Value::Object(tlog_entry(&rekor)?)]),
    );
    if let Some(timestamp) = layer.annotation(TIMESTAMP) {
        crate::json::check_unique_keys(timestamp.as_bytes())
            .map_err(|e| format!("the RFC 3161 timestamp annotation is not valid JSON: {e}"))?;
        let stamp: SignedTimestamp = serde_json::from_str(timestamp)
            .map_err(|e| format!("the RFC 3161 timestamp annotation is not valid: {e}"))?;
        verification.insert(
            "timestampVerificationData".into(),
            serde_json::json!({"rfc3161Timestamps": [{"signedTimestamp": stamp.signed}]}),
        );
    }
    let (field, signed) = match content {
        Content::Message { payload, signature } => {
            let digest = crate::oci::Digest::sha256_of(payload);
            let raw = hex::decode(digest.hex()).map_err(|e| e.to_string())?;
            let value = serde_json::json!({
                "messageDigest": {"algorithm": "SHA2_256", "digest": STANDARD.encode(raw)},
                "signature": STANDARD.encode(signature),
            });
            ("messageSignature", value)
        }
        Content::Envelope(envelope) => (
            "dsseEnvelope",
            serde_json::to_value(envelope).map_err(|e| e.to_string())?,
        ),
    };
    let bundle = serde_json::json!({
        "mediaType": "application/vnd.dev.sigstore.bundle+json;version=0.1",
        "verificationMaterial": verification,
        field: signed,
    });
    Bundle::from_json(&bundle.to_string())
        .map_err(|e| format!("the layer's Sigstore material is not valid: {e}"))
}

/// A Rekor v1 entry as a bundle's `tlogEntries` item (protojson), with its promise.
pub fn tlog_entry(rekor: &RekorBundle) -> Result<serde_json::Map<String, Value>, String> {
    let body = STANDARD
        .decode(&rekor.payload.body)
        .map_err(|e| format!("the logged entry is not base64: {e}"))?;
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Kind {
        kind: String,
        api_version: String,
    }
    let kind: Kind = serde_json::from_slice(&body)
        .map_err(|e| format!("the logged entry does not say its kind: {e}"))?;
    let log_id =
        hex::decode(&rekor.payload.log_id).map_err(|e| format!("the log ID is not hex: {e}"))?;
    let entry = serde_json::json!({
        "logIndex": rekor.payload.log_index.to_string(),
        "logId": {"keyId": STANDARD.encode(log_id)},
        "kindVersion": {"kind": kind.kind, "version": kind.api_version},
        "integratedTime": rekor.payload.integrated_time.to_string(),
        "inclusionPromise": {"signedEntryTimestamp": rekor.signed_entry_timestamp},
        "canonicalizedBody": rekor.payload.body,
    });
    match entry {
        Value::Object(map) => Ok(map),
        _ => Err("a log entry is an object".into()),
    }
}

fn pem_certificates(text: &str, what: &str) -> Result<Vec<Vec<u8>>, String> {
    let blocks =
        pem::parse_many(text).map_err(|e| format!("the {what} annotation is not PEM: {e}"))?;
    if blocks.is_empty() {
        return Err(format!("the {what} annotation holds no certificate"));
    }
    blocks
        .into_iter()
        .map(|block| {
            if block.tag() != "CERTIFICATE" {
                return Err(format!("the {what} annotation holds a {}", block.tag()));
            }
            let der = block.into_contents();
            // Every certificate must be one, even those a verifier might not need: a damaged
            // annotation is refused, not skipped.
            <x509_cert::Certificate as x509_cert::der::Decode>::from_der(&der).map_err(|e| {
                format!("the {what} annotation holds a certificate that does not parse: {e}")
            })?;
            Ok(der)
        })
        .collect()
}

/// The annotations cosign writes for a legacy layer's evidence: the certificate and chain of a
/// keyless signature (none for a key's), the Rekor entry, and the RFC 3161 timestamp if any.
pub fn annotations(
    certificate_chain: &[Vec<u8>],
    rekor: &RekorBundle,
    timestamp: Option<&[u8]>,
) -> Result<Annotations, String> {
    let pem = |der: &[Vec<u8>]| -> String {
        der.iter()
            .map(|d| {
                // cosign writes LF line endings.
                let config = pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF);
                pem::encode_config(&pem::Pem::new("CERTIFICATE", d.clone()), config)
            })
            .collect()
    };
    let mut annotations = Annotations::from([(
        REKOR_BUNDLE.to_string(),
        serde_json::to_string(rekor).map_err(|e| e.to_string())?,
    )]);
    if let Some((leaf, chain)) = certificate_chain.split_first() {
        annotations.insert(CERTIFICATE.to_string(), pem(std::slice::from_ref(leaf)));
        annotations.insert(CHAIN.to_string(), pem(chain));
    }
    if let Some(stamp) = timestamp {
        let value = SignedTimestamp {
            signed: STANDARD.encode(stamp),
        };
        annotations.insert(
            TIMESTAMP.to_string(),
            serde_json::to_string(&value).map_err(|e| e.to_string())?,
        );
    }
    Ok(annotations)
}

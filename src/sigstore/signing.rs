//! Signing with Sigstore's evidence: a key (the user's, or an ephemeral one Fulcio certified
//! for an OIDC identity), the Rekor entry that logs the signature, and an optional RFC 3161
//! timestamp. What is signed and how it is stored stay with the callers; this makes the
//! signature and the evidence that goes with it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use sigstore_types::DsseEnvelope;

use super::services::{self, Endpoints, Http, LogEntry};
use super::token::IdentityToken;
use crate::attest::dsse;
use crate::keys::{Algorithm, PrivateKey};

/// A signature's evidence besides the signature itself.
#[derive(Clone, Debug, Default)]
pub struct Evidence {
    /// The certificate chain (DER, leaf first) of a keyless signature; empty for a key.
    pub certificates: Vec<Vec<u8>>,
    /// The transparency log entry, when the signature was logged.
    pub log_entry: Option<LogEntry>,
    /// An RFC 3161 timestamp response (DER) over the signature.
    pub timestamp: Option<Vec<u8>>,
}

/// Where the signature is logged and stamped.
struct Witnesses {
    http: Http,
    endpoints: Endpoints,
}

/// Makes signatures and their evidence.
pub struct Signer<'a> {
    key: KeyHolder<'a>,
    certificates: Vec<Vec<u8>>,
    witnesses: Option<Witnesses>,
}

enum KeyHolder<'a> {
    Borrowed(&'a PrivateKey),
    Ephemeral(Box<PrivateKey>),
}

impl<'a> Signer<'a> {
    /// Signs with `key`, logging nothing.
    pub fn with_key(key: &'a PrivateKey) -> Signer<'a> {
        Signer {
            key: KeyHolder::Borrowed(key),
            certificates: Vec::new(),
            witnesses: None,
        }
    }

    /// Signs with `key` and logs every signature in Rekor (`--tlog-upload`).
    pub fn with_key_logged(
        key: &'a PrivateKey,
        endpoints: Endpoints,
    ) -> Result<Signer<'a>, String> {
        Ok(Signer {
            key: KeyHolder::Borrowed(key),
            certificates: Vec::new(),
            witnesses: Some(Witnesses {
                http: Http::new()?,
                endpoints,
            }),
        })
    }

    /// An ephemeral key certified by Fulcio for the identity `token` proves; every signature
    /// is logged in Rekor. The key never leaves memory.
    pub fn keyless(token: &IdentityToken, endpoints: Endpoints) -> Result<Signer<'static>, String> {
        let http = Http::new()?;
        let key = PrivateKey::generate(Algorithm::EcdsaP256).map_err(|e| e.to_string())?;
        let public_pem = key.public_key().to_pem().map_err(|e| e.to_string())?;
        // Fulcio's proof of possession: the key's signature over the token's subject.
        let proof = key.sign(token.subject().as_bytes());
        let certificates =
            services::fulcio_certificate(&http, &endpoints, token.as_str(), &public_pem, &proof)?;
        Ok(Signer {
            key: KeyHolder::Ephemeral(Box::new(key)),
            certificates,
            witnesses: Some(Witnesses { http, endpoints }),
        })
    }

    fn key(&self) -> &PrivateKey {
        match &self.key {
            KeyHolder::Borrowed(key) => key,
            KeyHolder::Ephemeral(key) => key,
        }
    }

    /// The signing key (for the key hint of a key-based bundle).
    pub fn private_key(&self) -> &PrivateKey {
        self.key()
    }

    pub fn is_keyless(&self) -> bool {
        !self.certificates.is_empty()
    }

    /// The PEM the log records as the verifier: the certificate, or the public key.
    fn verifier_pem(&self) -> Result<String, String> {
        match self.certificates.first() {
            Some(leaf) => Ok(pem::encode_config(
                &pem::Pem::new("CERTIFICATE", leaf.clone()),
                pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
            )),
            None => self.key().public_key().to_pem().map_err(|e| e.to_string()),
        }
    }

    /// Signs `payload` as a DSSE envelope of `payload_type`.
    pub fn sign_envelope(
        &self,
        payload_type: &str,
        payload: Vec<u8>,
    ) -> Result<(DsseEnvelope, Evidence), String> {
        let envelope = dsse::sign(self.key(), payload_type, payload);
        let signature = envelope.signature.sig.as_bytes().to_vec();
        let entry = || dsse_entry(&envelope, &self.verifier_pem()?);
        let evidence = self.witness(&signature, entry)?;
        Ok((envelope, evidence))
    }

    /// Signs `payload` as a message (a legacy simple-signing layer).
    pub fn sign_message(&self, payload: &[u8]) -> Result<(Vec<u8>, Evidence), String> {
        let signature = self.key().sign(payload);
        let entry = || hashedrekord_entry(payload, &signature, &self.verifier_pem()?);
        let evidence = self.witness(&signature, entry)?;
        Ok((signature, evidence))
    }

    fn witness(
        &self,
        signature: &[u8],
        entry: impl FnOnce() -> Result<Value, String>,
    ) -> Result<Evidence, String> {
        let mut evidence = Evidence {
            certificates: self.certificates.clone(),
            ..Evidence::default()
        };
        if let Some(witnesses) = &self.witnesses {
            if let Some(url) = &witnesses.endpoints.timestamp {
                evidence.timestamp = Some(services::timestamp(&witnesses.http, url, signature)?);
            }
            evidence.log_entry = Some(services::rekor_log(
                &witnesses.http,
                &witnesses.endpoints,
                &entry()?,
            )?);
        }
        Ok(evidence)
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    crate::oci::Digest::sha256_of(bytes).hex().to_string()
}

/// A Rekor `hashedrekord` 0.0.1 entry: the payload's digest, the signature and the verifier.
fn hashedrekord_entry(
    payload: &[u8],
    signature: &[u8],
    verifier_pem: &str,
) -> Result<Value, String> {
    Ok(json!({
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": sha256_hex(payload)}},
            "signature": {
                "content": STANDARD.encode(signature),
                "publicKey": {"content": STANDARD.encode(verifier_pem)},
            },
        },
    }))
}

/// A Rekor `dsse` 0.0.1 entry, as cosign v3 logs an envelope: the envelope as JSON text and
/// its verifier. Rekor keeps the envelope's and the payload's hashes and the signature with
/// its verifier, which the verifier checks against the bundle.
fn dsse_entry(envelope: &DsseEnvelope, verifier_pem: &str) -> Result<Value, String> {
    let envelope_json = serde_json::to_string(envelope).map_err(|e| e.to_string())?;
    Ok(json!({
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": {
            "proposedContent": {
                "envelope": envelope_json,
                "verifiers": [STANDARD.encode(verifier_pem)],
            },
        },
    }))
}

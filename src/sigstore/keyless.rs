//! Keyless verification of what is attached to an OCI subject: a Sigstore bundle (or the
//! bundle cosign's legacy annotations amount to) whose Fulcio certificate chains to the trusted
//! root, whose Rekor entry and timestamps verify offline, whose certificate was valid when the
//! entry was logged, whose identity is the one required, and whose signature covers the
//! content read.

use sigstore_verify::Verifier;
use sigstore_verify::types::{Bundle, Sha256Hash};

use super::identity::Identity;
use super::trust::TrustRoot;
use crate::oci::{Algorithm as DigestAlgorithm, Digest};

/// Verifies keyless signatures by one identity against one trusted root.
pub struct KeylessVerifier {
    verifier: Verifier,
    identity: Identity,
}

/// Who a verified keyless signature is from, as its certificate says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedBy {
    pub identity: String,
    pub issuer: String,
    /// When the transparency log recorded the signature, if it says.
    pub integrated_time: Option<String>,
}

impl std::fmt::Debug for KeylessVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeylessVerifier")
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

impl KeylessVerifier {
    pub fn new(root: &TrustRoot, identity: Identity) -> Result<KeylessVerifier, String> {
        Ok(KeylessVerifier {
            verifier: root.verifier()?,
            identity,
        })
    }

    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// A bundle holding a DSSE envelope whose in-toto statement names `subject`.
    pub fn verify_envelope(&self, bundle: &Bundle, subject: &Digest) -> Result<SignedBy, String> {
        let result = self
            .verifier
            .verify(subject_hash(subject)?, bundle, &self.identity.policy())
            .map_err(|e| e.to_string())?;
        self.signed_by(&result)
    }

    /// A bundle holding a message signature over `payload`, the exact bytes read.
    pub fn verify_message(&self, bundle: &Bundle, payload: &[u8]) -> Result<SignedBy, String> {
        let result = self
            .verifier
            .verify(payload, bundle, &self.identity.policy())
            .map_err(|e| e.to_string())?;
        self.signed_by(&result)
    }

    fn signed_by(&self, result: &sigstore_verify::VerificationResult) -> Result<SignedBy, String> {
        // The certificate, SCT and log checks are sigstore-verify's; refuse any result that
        // says one of them did not run.
        if !result.certificate_verified() || !result.sct_verified() || !result.tlog_verified() {
            return Err(
                "the certificate, its SCT or the transparency log entry was not verified".into(),
            );
        }
        self.identity.check(result)?;
        Ok(SignedBy {
            identity: result
                .identity()
                .map(|i| i.as_str().to_string())
                .unwrap_or_default(),
            issuer: result.issuer().unwrap_or_default().to_string(),
            integrated_time: result.integrated_time().map(|t| t.to_string()),
        })
    }
}

/// The SHA-256 a Sigstore statement binds for `subject`: other digests are not bound.
pub(super) fn subject_hash(subject: &Digest) -> Result<Sha256Hash, String> {
    if subject.algorithm() != DigestAlgorithm::Sha256 {
        return Err(format!(
            "a Sigstore signature binds a SHA-256 subject; {subject} is not one"
        ));
    }
    Sha256Hash::from_hex(subject.hex()).map_err(|e| e.to_string())
}

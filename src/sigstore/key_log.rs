//! The transparency log entry a key-based signature carries (`sign --key --tlog-upload`, and
//! cosign's default): verified offline against a trusted root as cosign verifies it (the
//! entry's signed entry timestamp, inclusion proof and checkpoint with a log key of the root,
//! and the entry describing this very signature), so that an entry is either sound or a
//! rejection, never decoration.

use std::sync::OnceLock;

use sigstore_verify::types::{Bundle, DerPublicKey};
use sigstore_verify::{PublicKeyVerificationPolicy, Verifier};

use super::keyless::subject_hash;
use super::trust::TrustRoot;
use crate::keys::PublicKey;
use crate::oci::Digest;

/// Verifies the log entries of key-based signatures against one trusted root.
pub struct KeyLogVerifier {
    root: TrustRoot,
    /// Loaded for the first entry to check: most key-based signatures carry none, and loading
    /// a root costs more than verifying them.
    verifier: OnceLock<Result<Verifier, String>>,
}

impl std::fmt::Debug for KeyLogVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyLogVerifier")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

impl KeyLogVerifier {
    pub fn new(root: &TrustRoot) -> Result<KeyLogVerifier, String> {
        let log = KeyLogVerifier {
            root: root.clone(),
            verifier: OnceLock::new(),
        };
        // A root the user names is loaded now: a bad file is an error before anything is
        // judged, not a rejection of every logged signature.
        if let TrustRoot::File(_) = root {
            log.verifier()?;
        }
        Ok(log)
    }

    fn verifier(&self) -> Result<&Verifier, String> {
        self.verifier
            .get_or_init(|| self.root.verifier())
            .as_ref()
            .map_err(Clone::clone)
    }

    /// A bundle holding a DSSE envelope signed by `key`, whose statement names `subject`.
    /// Returns when the log recorded it.
    pub fn verify_envelope(
        &self,
        bundle: &Bundle,
        subject: &Digest,
        key: &PublicKey,
    ) -> Result<Option<String>, String> {
        let result = self
            .verifier()?
            .verify(subject_hash(subject)?, bundle, &policy(key)?)
            .map_err(|e| self.rejected(e))?;
        logged(&result)
    }

    /// A bundle holding `key`'s message signature over `payload`, the exact bytes read.
    pub fn verify_message(
        &self,
        bundle: &Bundle,
        payload: &[u8],
        key: &PublicKey,
    ) -> Result<Option<String>, String> {
        let result = self
            .verifier()?
            .verify(payload, bundle, &policy(key)?)
            .map_err(|e| self.rejected(e))?;
        logged(&result)
    }

    /// Why the entry does not count, and what to do: a log the root does not vouch for is a
    /// matter of the trusted root; an entry for other content is a matter of the signature.
    fn rejected(&self, error: sigstore_verify::Error) -> String {
        use sigstore_verify::error::TransparencyLogError as Log;
        match &error {
            sigstore_verify::Error::TransparencyLog(
                Log::UnknownLog { .. }
                | Log::InclusionProof(_)
                | Log::Checkpoint(_)
                | Log::InclusionPromise(_),
            ) => format!(
                "its transparency log entry does not verify against the {} ({error}): name the trusted root of the log it was written to",
                self.root.describe()
            ),
            sigstore_verify::Error::Timestamp(_) => format!(
                "its RFC 3161 timestamp does not verify against the {} ({error})",
                self.root.describe()
            ),
            _ => format!("its transparency log entry is not this signature's ({error})"),
        }
    }
}

fn policy(key: &PublicKey) -> Result<PublicKeyVerificationPolicy, String> {
    let der = key.to_spki_der().map_err(|e| e.to_string())?;
    Ok(PublicKeyVerificationPolicy::new(DerPublicKey::new(der)))
}

/// The log check must have run; a result that says it did not is a failure.
fn logged(result: &sigstore_verify::VerificationResult) -> Result<Option<String>, String> {
    if !result.tlog_verified() {
        return Err("the transparency log entry was not verified".into());
    }
    Ok(result.integrated_time().map(|t| t.to_string()))
}

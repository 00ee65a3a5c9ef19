//! Sigstore bundles over plain files or digests (`verify-bundle`, cosign's `verify-blob`):
//! keyless (a Fulcio certificate chaining to the trusted root, its identity and issuer, the
//! Rekor entry and its proofs, timestamps, the certificate valid at the logged time) or
//! key-based, all offline against a `trusted_root.json` (the public-good production root is
//! built in; staging on request). The cryptography is sigstore-verify's.

use std::path::{Path, PathBuf};

use sigstore_verify::types::{Bundle, DerPublicKey, Sha256Hash};
use sigstore_verify::{PublicKeyVerificationPolicy, Verifier};

use super::identity::Identity;
use super::trust::TrustRoot;

/// The most bytes of a bundle read.
pub const MAX_BUNDLE_BYTES: u64 = 32 << 20;

/// What the bundle must have been signed with.
#[derive(Clone, Debug)]
pub enum Signer {
    /// A public key, PEM; `ignore_tlog` checks its signature without the bundle's log entry.
    Key {
        pem: String,
        ignore_tlog: bool,
    },
    Identity(Identity),
}

/// What was signed: a file, or a SHA-256 digest.
#[derive(Clone, Debug)]
pub enum Subject {
    File(PathBuf),
    Digest(String),
}

impl Subject {
    /// `sha256:<hex>` is a digest; anything else names a file.
    pub fn parse(text: &str) -> Subject {
        match text.strip_prefix("sha256:") {
            Some(hex) => Subject::Digest(hex.to_string()),
            None => Subject::File(PathBuf::from(text)),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// The inputs could not be read (exit 2).
    #[error("{0}")]
    Input(String),
    /// The bundle does not verify (exit 1).
    #[error("{0}")]
    Rejected(String),
}

/// Who signed, as the verified bundle says.
#[derive(Clone, Debug, Default)]
pub struct Verified {
    pub identity: Option<String>,
    pub issuer: Option<String>,
    pub integrated_time: Option<String>,
}

fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, BundleError> {
    crate::files::read_limited(path, limit)
        .map_err(|e| BundleError::Input(format!("cannot read {}: {e}", path.display())))
}

/// Verifies the bundle at `bundle` over `subject` as signed by `signer`.
pub fn verify_bundle(
    bundle: &Path,
    subject: &Subject,
    signer: &Signer,
    root: &TrustRoot,
) -> Result<Verified, BundleError> {
    let bytes = read_bounded(bundle, MAX_BUNDLE_BYTES)?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|e| BundleError::Rejected(format!("the bundle is not UTF-8: {e}")))?;
    let bundle = Bundle::from_json(text)
        .map_err(|e| BundleError::Rejected(format!("the bundle is malformed: {e}")))?;
    let verifier = root.verifier().map_err(BundleError::Input)?;
    let rejected = |e: sigstore_verify::Error| BundleError::Rejected(e.to_string());
    let result = match signer {
        Signer::Key { pem, ignore_tlog } => {
            let key = DerPublicKey::from_pem(pem)
                .map_err(|e| BundleError::Input(format!("the key does not parse: {e}")))?;
            let mut policy = PublicKeyVerificationPolicy::new(key);
            if *ignore_tlog {
                policy = policy.skip_tlog_unsafe();
            }
            verify_subject(&verifier, subject, &bundle, &policy).map_err(|e| match e {
                Failure::Input(m) => BundleError::Input(m),
                Failure::Verify(e) => rejected(e),
            })?
        }
        Signer::Identity(identity) => {
            let result = verify_subject(&verifier, subject, &bundle, &identity.policy()).map_err(
                |e| match e {
                    Failure::Input(m) => BundleError::Input(m),
                    Failure::Verify(e) => rejected(e),
                },
            )?;
            identity.check(&result).map_err(BundleError::Rejected)?;
            result
        }
    };
    Ok(Verified {
        identity: result.identity().map(|i| i.as_str().to_string()),
        issuer: result.issuer().map(str::to_string),
        integrated_time: result.integrated_time().map(|t| t.to_string()),
    })
}

enum Failure {
    Input(String),
    Verify(sigstore_verify::Error),
}

fn verify_subject(
    verifier: &Verifier,
    subject: &Subject,
    bundle: &Bundle,
    policy: &(impl sigstore_verify::Policy + ?Sized),
) -> Result<sigstore_verify::VerificationResult, Failure> {
    match subject {
        Subject::Digest(hex) => {
            let digest = Sha256Hash::from_hex(hex)
                .map_err(|e| Failure::Input(format!("sha256:{hex} is not a digest: {e}")))?;
            verifier
                .verify(digest, bundle, policy)
                .map_err(Failure::Verify)
        }
        Subject::File(path) => {
            let file = std::fs::File::open(path)
                .map_err(|e| Failure::Input(format!("cannot read {}: {e}", path.display())))?;
            verifier
                .verify_reader(file, bundle, policy)
                .map_err(Failure::Verify)
        }
    }
}

//! Sigstore bundles over plain files or digests (`verify-bundle`, cosign's `verify-blob`):
//! keyless (a Fulcio certificate chaining to the trusted root, its identity and issuer, the
//! Rekor entry and its proofs, timestamps, the certificate valid at the logged time) or
//! key-based, all offline against a `trusted_root.json` (the public-good production root is
//! built in; staging on request). The cryptography is sigstore-verify's.

use std::path::{Path, PathBuf};

use sigstore_verify::trust_root::{
    SIGSTORE_PRODUCTION_TRUSTED_ROOT, SIGSTORE_STAGING_TRUSTED_ROOT, TrustedRoot,
};
use sigstore_verify::types::{Bundle, DerPublicKey, Sha256Hash};
use sigstore_verify::{PublicKeyVerificationPolicy, VerificationPolicy, Verifier};

/// The most bytes of a bundle read.
pub const MAX_BUNDLE_BYTES: u64 = 32 << 20;

/// Which trust material to verify against.
#[derive(Clone, Debug)]
pub enum TrustRoot {
    Production,
    Staging,
    File(PathBuf),
}

/// What the bundle must have been signed with.
#[derive(Clone, Debug)]
pub enum Signer {
    Key(String),
    Identity {
        /// The certificate's subject alternative name: exact, or an anchored regexp.
        identity: Matcher,
        /// The OIDC issuer: exact, or an anchored regexp.
        issuer: Matcher,
    },
}

#[derive(Clone, Debug)]
pub enum Matcher {
    Exact(String),
    Regexp(regex::Regex),
}

impl Matcher {
    /// A regexp matched against the whole value, as cosign anchors them.
    pub fn regexp(pattern: &str) -> Result<Matcher, String> {
        regex::Regex::new(&format!("^(?:{pattern})$"))
            .map(Matcher::Regexp)
            .map_err(|e| format!("{pattern:?} is not a regular expression: {e}"))
    }

    fn matches(&self, value: &str) -> bool {
        match self {
            Matcher::Exact(exact) => exact == value,
            Matcher::Regexp(re) => re.is_match(value),
        }
    }
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

fn load_root(root: &TrustRoot) -> Result<TrustedRoot, BundleError> {
    let parsed = match root {
        TrustRoot::Production => TrustedRoot::from_json(SIGSTORE_PRODUCTION_TRUSTED_ROOT),
        TrustRoot::Staging => TrustedRoot::from_json(SIGSTORE_STAGING_TRUSTED_ROOT),
        TrustRoot::File(path) => {
            let bytes = read_bounded(path, MAX_BUNDLE_BYTES)?;
            let text = String::from_utf8(bytes)
                .map_err(|e| BundleError::Input(format!("{}: {e}", path.display())))?;
            TrustedRoot::from_json(&text)
        }
    };
    parsed.map_err(|e| BundleError::Input(format!("the trusted root does not load: {e}")))
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
    let trusted = load_root(root)?;
    let verifier = Verifier::new(&trusted)
        .map_err(|e| BundleError::Input(format!("the trusted root cannot be used: {e}")))?;
    let rejected = |e: sigstore_verify::Error| BundleError::Rejected(e.to_string());
    let result = match signer {
        Signer::Key(pem) => {
            let key = DerPublicKey::from_pem(pem)
                .map_err(|e| BundleError::Input(format!("the key does not parse: {e}")))?;
            let policy = PublicKeyVerificationPolicy::new(key);
            verify_subject(&verifier, subject, &bundle, &policy).map_err(|e| match e {
                Failure::Input(m) => BundleError::Input(m),
                Failure::Verify(e) => rejected(e),
            })?
        }
        Signer::Identity { identity, issuer } => {
            let policy = match (identity, issuer) {
                (Matcher::Exact(identity), Matcher::Exact(issuer)) => {
                    VerificationPolicy::new(identity.as_str(), issuer.as_str())
                }
                // Regexps are checked on the verified result below.
                _ => VerificationPolicy::any_identity(),
            };
            let result =
                verify_subject(&verifier, subject, &bundle, &policy).map_err(|e| match e {
                    Failure::Input(m) => BundleError::Input(m),
                    Failure::Verify(e) => rejected(e),
                })?;
            let found = result.identity().map(|i| i.as_str().to_string());
            if !found.as_deref().is_some_and(|i| identity.matches(i)) {
                return Err(BundleError::Rejected(format!(
                    "the certificate's identity {found:?} is not the one required"
                )));
            }
            let found_issuer = result.issuer().map(str::to_string);
            if !found_issuer.as_deref().is_some_and(|i| issuer.matches(i)) {
                return Err(BundleError::Rejected(format!(
                    "the certificate's issuer {found_issuer:?} is not the one required"
                )));
            }
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

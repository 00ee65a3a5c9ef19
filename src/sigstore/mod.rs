//! Sigstore: trust roots, certificate identities, keyless verification (of bundles over files
//! and over OCI digests, and of cosign's legacy annotations), the log entries of key-based
//! signatures, and keyless signing through Fulcio, Rekor and a timestamp authority. The
//! cryptography of verification is sigstore-verify's.

pub mod blob;
pub mod identity;
pub mod key_log;
pub mod keyless;
pub mod refresh;
pub mod services;
pub mod signing;
pub mod token;
pub mod trust;

pub use blob::{BundleError, Signer, Subject, Verified, verify_bundle};
pub use identity::{Identity, Matcher, WorkflowClaims};
pub use key_log::KeyLogVerifier;
pub use keyless::KeylessVerifier;
pub use services::Endpoints;
pub use signing::{Evidence, Signer as SigstoreSigner};
pub use token::IdentityToken;
pub use trust::TrustRoot;

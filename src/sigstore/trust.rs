//! Which Sigstore trust material to verify against: the public-good production root (built
//! in, the default), the staging root, or a `trusted_root.json` the user gives. Verification
//! never touches the network.

use std::path::PathBuf;

use sigstore_verify::Verifier;
use sigstore_verify::trust_root::{
    SIGSTORE_PRODUCTION_TRUSTED_ROOT, SIGSTORE_STAGING_TRUSTED_ROOT, TrustedRoot,
};

/// The most bytes of a trusted root read.
pub const MAX_TRUSTED_ROOT_BYTES: u64 = 4 << 20;

#[derive(Clone, Debug, Default)]
pub enum TrustRoot {
    #[default]
    Production,
    Staging,
    File(PathBuf),
}

impl TrustRoot {
    /// `--trusted-root FILE` wins, then `--staging`, else production.
    pub fn choose(file: Option<PathBuf>, staging: bool) -> TrustRoot {
        match (file, staging) {
            (Some(path), _) => TrustRoot::File(path),
            (None, true) => TrustRoot::Staging,
            (None, false) => TrustRoot::Production,
        }
    }

    /// Loads the root; a file that cannot be read or is no trusted root is an error (never a
    /// fallback to another root).
    pub fn load(&self) -> Result<TrustedRoot, String> {
        let parsed = match self {
            TrustRoot::Production => TrustedRoot::from_json(SIGSTORE_PRODUCTION_TRUSTED_ROOT),
            TrustRoot::Staging => TrustedRoot::from_json(SIGSTORE_STAGING_TRUSTED_ROOT),
            TrustRoot::File(path) => {
                let bytes = crate::files::read_limited(path, MAX_TRUSTED_ROOT_BYTES)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                return parse(&bytes).map_err(|e| format!("{}: {e}", path.display()));
            }
        };
        parsed.map_err(|e| format!("the trusted root does not load: {e}"))
    }

    /// How messages name this root.
    pub fn describe(&self) -> String {
        match self {
            TrustRoot::Production => "public-good production root".into(),
            TrustRoot::Staging => "public-good staging root".into(),
            TrustRoot::File(path) => format!("trusted root {}", path.display()),
        }
    }

    /// A verifier over this root.
    pub fn verifier(&self) -> Result<Verifier, String> {
        verifier_over(&self.load()?)
    }
}

/// Reads a `trusted_root.json`'s bytes.
pub fn parse(bytes: &[u8]) -> Result<TrustedRoot, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("it is not UTF-8: {e}"))?;
    TrustedRoot::from_json(text).map_err(|e| format!("the trusted root does not load: {e}"))
}

/// A verifier over a loaded root; a root it cannot use is an error.
pub fn verifier_over(root: &TrustedRoot) -> Result<Verifier, String> {
    Verifier::new(root).map_err(|e| format!("the trusted root cannot be used: {e}"))
}

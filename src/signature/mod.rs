//! Signature formats cosign reads and writes: the Sigstore bundle referrer (cosign v3) and the
//! legacy simple-signing layer in a `sha256-<hex>.sig` tag (cosign v2).

pub mod bundle;
pub mod legacy;
pub mod sigstore_annotations;
pub mod simple_signing;

/// The predicate type of a cosign v3 image signature statement.
pub const SIGN_PREDICATE_TYPE: &str = "https://sigstore.dev/cosign/sign/v1";

/// The most bytes read for one signature payload or bundle. cosign's own limit on attachments
/// is 128 MiB; a signature is a few KiB.
pub const MAX_SIGNATURE_BYTES: u64 = 4 << 20;

/// How a signature is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// A Sigstore bundle v0.3 in an OCI 1.1 referrer (cosign v3).
    Bundle,
    /// A simple-signing layer in the `sha256-<hex>.sig` tag (cosign v2).
    Legacy,
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "bundle" => Ok(Format::Bundle),
            "legacy" => Ok(Format::Legacy),
            other => Err(format!("unknown format {other:?}; choose bundle or legacy")),
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Format::Bundle => "bundle",
            Format::Legacy => "legacy",
        })
    }
}

//! The policy file as written: YAML (or JSON, which YAML reads), versioned, every field known
//! (an unknown one is an error: a misspelt requirement must not silently vanish).

use serde::Deserialize;

/// The only policy file version there is.
pub const VERSION: u32 = 1;

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyFile {
    pub version: u32,
    /// What to do with a reference no policy covers.
    #[serde(default)]
    pub no_match: NoMatch,
    pub policies: Vec<PolicySpec>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NoMatch {
    #[default]
    Reject,
    Admit,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Reject on any failed requirement.
    #[default]
    Enforce,
    /// Admit, and report failed requirements as warnings.
    Warn,
    /// Admit, and only record the decision.
    Audit,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicySpec {
    pub name: String,
    /// Reference globs: `registry.example.com/models/*`, `oci:/srv/models/**`.
    pub scopes: Vec<String>,
    #[serde(default)]
    pub mode: Mode,
    #[serde(default)]
    pub authorities: Vec<AuthoritySpec>,
    #[serde(default)]
    pub signatures: Option<SignaturesSpec>,
    #[serde(default)]
    pub attestations: Vec<AttestationSpec>,
    #[serde(default)]
    pub modelpack: Option<ModelPackSpec>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthoritySpec {
    pub name: String,
    #[serde(default)]
    pub key: Option<KeySpec>,
    #[serde(default)]
    pub keyless: Option<KeylessSpec>,
}

/// A keyless identity: a Fulcio certificate's issuer and subject, and GitHub workflow claims.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeylessSpec {
    pub issuer: String,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub subject_reg_exp: Option<String>,
    /// Certificate extensions that must have these values (GitHub workflow repository, ref…).
    #[serde(default)]
    pub extensions: Option<std::collections::BTreeMap<String, String>>,
    /// A trusted_root.json, relative to the policy file.
    #[serde(default)]
    pub trusted_root: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeySpec {
    /// A PKIX PEM file, relative to the policy file.
    #[serde(default)]
    pub path: Option<String>,
    /// The PEM itself.
    #[serde(default)]
    pub pem: Option<String>,
    /// The trusted_root.json a transparency log entry of the key's signatures must verify
    /// against, relative to the policy file; the public-good production root by default.
    #[serde(default)]
    pub trusted_root: Option<String>,
    /// Whether the key's signatures and attestations must carry a log entry (else one without
    /// is the key's alone).
    #[serde(default)]
    pub require_log: bool,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignaturesSpec {
    /// How many distinct authorities must have signed the digest.
    pub threshold: usize,
    /// Which authorities count; all of the policy's by default.
    #[serde(default)]
    pub authorities: Option<Vec<String>>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AttestationSpec {
    /// A predicate type: one of the short names `attest --type` takes, or a URI.
    #[serde(rename = "type")]
    pub predicate_type: String,
    /// Which authorities may sign it; all of the policy's by default.
    #[serde(default)]
    pub authorities: Option<Vec<String>>,
    /// How old the attestation may be, by the time it signs (`7d`, `12h`, `30m`).
    #[serde(default)]
    pub max_age: Option<String>,
    /// Rego files (conftest's convention), relative to the policy file.
    #[serde(default)]
    pub rules: Vec<String>,
    /// JSON or YAML documents the rules see as `data`, relative to the policy file.
    #[serde(default)]
    pub data: Vec<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ModelPackSpec {
    /// Allowed families: `cncf`, `cnai-legacy`, `kitops`.
    #[serde(default)]
    pub families: Option<Vec<String>>,
    /// Allowed weight formats by file ending (`safetensors`, `gguf`, …).
    #[serde(default)]
    pub weight_formats: Option<Vec<String>>,
    /// Allowed layer media type globs.
    #[serde(default)]
    pub media_types: Option<Vec<String>>,
    /// The largest total layer size, in bytes or with a unit (`100GiB`).
    #[serde(default)]
    pub max_size: Option<String>,
    /// Whether layers whose media type was guessed are allowed.
    #[serde(default)]
    pub allow_untested: bool,
    /// Allowed license identifiers.
    #[serde(default)]
    pub licenses: Option<Vec<String>>,
}

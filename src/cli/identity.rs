//! Whom a signature must come from, as `verify`, `verify-attestation` and `verify-bundle`
//! take it: `--key PUB`, or a keyless identity with cosign's flags and the trust root.

use std::path::{Path, PathBuf};

use anyhow::bail;
use modelseal::sigstore::{Identity, KeylessVerifier, Matcher, TrustRoot, WorkflowClaims};
use modelseal::verify::{Authority, KeyAuthority};

use super::args::{key_id, read_public_key};

#[derive(clap::Args, Clone, Debug, Default)]
pub struct IdentityArgs {
    /// The signer's identity (the certificate's subject alternative name), exactly.
    #[arg(long)]
    pub certificate_identity: Option<String>,
    /// The signer's identity as a regular expression matched against the whole value.
    #[arg(long, conflicts_with = "certificate_identity")]
    pub certificate_identity_regexp: Option<String>,
    /// The OIDC issuer of the identity, exactly.
    #[arg(long)]
    pub certificate_oidc_issuer: Option<String>,
    /// The OIDC issuer as a regular expression matched against the whole value.
    #[arg(long, conflicts_with = "certificate_oidc_issuer")]
    pub certificate_oidc_issuer_regexp: Option<String>,
    /// The GitHub workflow trigger the certificate must name (e.g. push).
    #[arg(long)]
    pub certificate_github_workflow_trigger: Option<String>,
    /// The commit SHA the certificate must name.
    #[arg(long)]
    pub certificate_github_workflow_sha: Option<String>,
    /// The GitHub workflow name the certificate must name.
    #[arg(long)]
    pub certificate_github_workflow_name: Option<String>,
    /// The repository (owner/name) the certificate must name.
    #[arg(long)]
    pub certificate_github_workflow_repository: Option<String>,
    /// The git ref the certificate must name (e.g. refs/heads/main).
    #[arg(long)]
    pub certificate_github_workflow_ref: Option<String>,
    /// A Sigstore `trusted_root.json`; the public-good production root by default.
    #[arg(long, conflicts_with = "staging")]
    pub trusted_root: Option<PathBuf>,
    /// Use the public-good staging root.
    #[arg(long)]
    pub staging: bool,
    /// With --key: check the key's signature alone, not the transparency log entry it may
    /// carry (by default an entry must verify against the trusted root).
    #[arg(long)]
    pub insecure_ignore_tlog: bool,
}

impl IdentityArgs {
    /// Whether any of these flags is given (a policy names its own authorities and roots).
    pub fn any_given(&self) -> bool {
        self.is_given()
            || self.certificate_github_workflow_trigger.is_some()
            || self.certificate_github_workflow_sha.is_some()
            || self.certificate_github_workflow_name.is_some()
            || self.certificate_github_workflow_repository.is_some()
            || self.certificate_github_workflow_ref.is_some()
            || self.trusted_root.is_some()
            || self.staging
            || self.insecure_ignore_tlog
    }

    fn is_given(&self) -> bool {
        self.certificate_identity.is_some()
            || self.certificate_identity_regexp.is_some()
            || self.certificate_oidc_issuer.is_some()
            || self.certificate_oidc_issuer_regexp.is_some()
    }

    /// The keyless identity the flags name.
    pub fn identity(&self) -> anyhow::Result<Identity> {
        let subject = Matcher::from_flags(
            self.certificate_identity.as_deref(),
            self.certificate_identity_regexp.as_deref(),
            "give --key, or --certificate-identity (or --certificate-identity-regexp)",
        )
        .map_err(anyhow::Error::msg)?;
        let issuer = Matcher::from_flags(
            self.certificate_oidc_issuer.as_deref(),
            self.certificate_oidc_issuer_regexp.as_deref(),
            "a keyless identity needs --certificate-oidc-issuer (or --certificate-oidc-issuer-regexp)",
        )
        .map_err(anyhow::Error::msg)?;
        let mut identity = Identity::new(subject, issuer);
        identity.workflow = WorkflowClaims {
            trigger: self.certificate_github_workflow_trigger.clone(),
            sha: self.certificate_github_workflow_sha.clone(),
            name: self.certificate_github_workflow_name.clone(),
            repository: self.certificate_github_workflow_repository.clone(),
            git_ref: self.certificate_github_workflow_ref.clone(),
        };
        Ok(identity)
    }

    pub fn root(&self) -> TrustRoot {
        TrustRoot::choose(self.trusted_root.clone(), self.staging)
    }
}

/// Why `--insecure-ignore-tlog` goes with `--key` only.
pub const KEYLESS_LOG_ALWAYS: &str = "--insecure-ignore-tlog applies to --key: a keyless signature is always checked against its log entry";

/// How reports name an authority.
#[derive(Clone, Debug)]
pub enum SignerName {
    /// The key's ID (SHA-256 of its PKIX DER).
    Key(String),
    /// `SUBJECT (ISSUER)`.
    Identity(String),
}

impl SignerName {
    pub fn key(&self) -> Option<&str> {
        match self {
            SignerName::Key(id) => Some(id),
            SignerName::Identity(_) => None,
        }
    }

    pub fn identity(&self) -> Option<&str> {
        match self {
            SignerName::Key(_) => None,
            SignerName::Identity(identity) => Some(identity),
        }
    }
}

impl std::fmt::Display for SignerName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SignerName::Key(id) => write!(f, "key {id}"),
            SignerName::Identity(identity) => write!(f, "identity {identity}"),
        }
    }
}

/// The authority `--key` or the identity flags name, and how reports call it.
pub fn authority(
    key: Option<&Path>,
    identity_args: &IdentityArgs,
) -> anyhow::Result<(Authority, SignerName)> {
    match key {
        Some(_) if identity_args.is_given() => {
            bail!("give --key or a certificate identity, not both")
        }
        Some(path) => {
            let key = read_public_key(path)?;
            let name = SignerName::Key(key_id(&key)?);
            let authority = if identity_args.insecure_ignore_tlog {
                KeyAuthority::ignoring_log(key)
            } else {
                KeyAuthority::new(key, &identity_args.root()).map_err(anyhow::Error::msg)?
            };
            Ok((Authority::Key(Box::new(authority)), name))
        }
        None if identity_args.insecure_ignore_tlog => bail!(KEYLESS_LOG_ALWAYS),
        None => {
            let keyless = identity_args.identity()?;
            let name = SignerName::Identity(keyless.describe());
            let root = identity_args.root();
            let verifier = KeylessVerifier::new(&root, keyless).map_err(anyhow::Error::msg)?;
            Ok((Authority::Keyless(std::sync::Arc::new(verifier)), name))
        }
    }
}

//! How `sign` and `attest` sign: with `--key`, or `--keyless` (an OIDC identity certified by
//! Fulcio, logged in Rekor), and where the Sigstore services are.

use std::path::PathBuf;

use anyhow::{Context, bail};
use modelseal::sigstore::{Endpoints, IdentityToken, SigstoreSigner};

#[derive(clap::Args, Debug)]
pub struct SigningArgs {
    /// The private key (cosign's encrypted format, or PKCS#8 / SEC1 PEM); or --keyless.
    #[arg(long, required_unless_present = "keyless", conflicts_with = "keyless")]
    key: Option<PathBuf>,
    /// Sign keylessly: an ephemeral key certified by Fulcio for your OIDC identity, the
    /// signature logged in Rekor.
    #[arg(long)]
    keyless: bool,
    /// The OIDC identity token (or a file holding it); else SIGSTORE_ID_TOKEN, else GitHub
    /// Actions' token service.
    #[arg(long, requires = "keyless", value_name = "TOKEN_OR_FILE")]
    identity_token: Option<String>,
    /// Log a key-based signature in Rekor too (keyless signatures always are).
    #[arg(long, requires = "key")]
    tlog_upload: bool,
    /// Fulcio's URL (default https://fulcio.sigstore.dev).
    #[arg(long, value_name = "URL")]
    fulcio_url: Option<String>,
    /// Rekor's URL (default https://rekor.sigstore.dev).
    #[arg(long, value_name = "URL")]
    rekor_url: Option<String>,
    /// An RFC 3161 timestamp authority's URL (e.g. https://timestamp.sigstore.dev/api/v1/timestamp).
    #[arg(long, value_name = "URL")]
    timestamp_server_url: Option<String>,
    /// A Sigstore signing config (`signing_config.json`) naming the services; the URL flags
    /// override it.
    #[arg(long, value_name = "FILE")]
    signing_config: Option<PathBuf>,
}

impl SigningArgs {
    fn endpoints(&self) -> anyhow::Result<Endpoints> {
        let mut endpoints = match &self.signing_config {
            Some(path) => {
                let bytes = modelseal::files::read_limited(path, 1 << 20)
                    .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
                modelseal::sigstore::services::endpoints_from_signing_config(&bytes)
                    .map_err(anyhow::Error::msg)
                    .with_context(|| format!("{} is not a usable signing config", path.display()))?
            }
            None => Endpoints::default(),
        };
        if let Some(url) = &self.fulcio_url {
            endpoints.fulcio = url.clone();
        }
        if let Some(url) = &self.rekor_url {
            endpoints.rekor = url.clone();
        }
        if let Some(url) = &self.timestamp_server_url {
            endpoints.timestamp = Some(url.clone());
        }
        Ok(endpoints)
    }

    /// Runs `f` with the signer the flags describe. The key is read (or the certificate
    /// obtained) before anything is written, so a bad key or token attaches nothing.
    pub fn with_signer<T>(
        &self,
        f: impl FnOnce(&SigstoreSigner<'_>) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        let endpoints = self.endpoints()?;
        match (&self.key, self.keyless) {
            (Some(path), false) => {
                let key = super::keys::read_private_key(path)?;
                let signer = if self.tlog_upload {
                    SigstoreSigner::with_key_logged(&key, endpoints).map_err(anyhow::Error::msg)?
                } else {
                    SigstoreSigner::with_key(&key)
                };
                f(&signer)
            }
            (None, true) => {
                let token = IdentityToken::find(self.identity_token.as_deref())
                    .map_err(anyhow::Error::msg)?;
                let signer = SigstoreSigner::keyless(&token, endpoints)
                    .map_err(anyhow::Error::msg)
                    .context("cannot get a signing certificate")?;
                f(&signer)
            }
            _ => bail!("give --key KEY or --keyless"),
        }
    }
}

//! How `sign` and `attest` sign: with `--key`, or `--keyless` (an OIDC identity certified by
//! Fulcio, logged in Rekor), and where the Sigstore services are.

use std::path::PathBuf;

use anyhow::{Context, bail};
use modelseal::keys::PrivateKey;
use modelseal::sigstore::{Endpoints, IdentityToken, SigstoreSigner};

#[derive(clap::Args, Debug)]
pub struct SigningArgs {
    /// The private key (cosign's encrypted format, or PKCS#8 / SEC1 PEM); or --keyless.
    #[arg(long, conflicts_with = "keyless")]
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
    /// The services: the public-good ones, or those a signing config names, with the URL
    /// flags over either. A config must name what this signing uses (Fulcio for --keyless, a
    /// Rekor v1 log for any logging) unless a flag gives it.
    fn endpoints(&self) -> anyhow::Result<Endpoints> {
        let mut endpoints = Endpoints::default();
        if let Some(path) = &self.signing_config {
            let bytes = modelseal::files::read_limited(path, 1 << 20)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
            let named = modelseal::sigstore::services::services_from_signing_config(
                &bytes,
                modelseal::clock::now(),
            )
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("{} is not a usable signing config", path.display()))?;
            // Only what this signing contacts must be named (or given by its flag).
            let missing = |what: &str, flag: &str| {
                anyhow::anyhow!(
                    "{} names no {what} valid now: give {flag}, or a signing config that does",
                    path.display()
                )
            };
            let needs_fulcio = self.keyless && self.fulcio_url.is_none();
            let needs_rekor = (self.keyless || self.tlog_upload) && self.rekor_url.is_none();
            match named.fulcio {
                Some(url) => endpoints.fulcio = url,
                None if needs_fulcio => {
                    return Err(missing("Fulcio (caUrls, API version 1)", "--fulcio-url"));
                }
                None => {}
            }
            match named.rekor {
                Some(url) => endpoints.rekor = url,
                None if needs_rekor => {
                    let what = "Rekor v1 log (rekorTlogUrls, API version 1)";
                    return Err(missing(what, "--rekor-url"));
                }
                None => {}
            }
            endpoints.timestamp = named.timestamp;
        }
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

    /// A service flag that this signing would not use is a mistake to point out, not to pass
    /// over: a key-based signature reaches Rekor (and a timestamp authority) only with
    /// --tlog-upload, and Fulcio never.
    fn check_services_are_used(&self) -> anyhow::Result<()> {
        if self.key.is_none() {
            return Ok(());
        }
        if self.fulcio_url.is_some() {
            bail!("--fulcio-url applies to --keyless: a key needs no certificate");
        }
        let logging_flags = [
            ("--rekor-url", self.rekor_url.is_some()),
            (
                "--timestamp-server-url",
                self.timestamp_server_url.is_some(),
            ),
            ("--signing-config", self.signing_config.is_some()),
        ];
        if let Some((flag, _)) = logging_flags.iter().find(|(_, given)| *given)
            && !self.tlog_upload
        {
            bail!(
                "{flag} is used when a key-based signature is logged: add --tlog-upload, or sign --keyless"
            );
        }
        Ok(())
    }

    /// With `attest`, the credentials prepared; without, none, and a signing flag given anyway
    /// is a mistake to point out (`scan --key K` without `--attest` would sign nothing).
    pub fn prepare_if(&self, attest: bool) -> anyhow::Result<Option<Prepared>> {
        let given = self.key.is_some()
            || self.keyless
            || self.identity_token.is_some()
            || self.tlog_upload
            || self.fulcio_url.is_some()
            || self.rekor_url.is_some()
            || self.timestamp_server_url.is_some()
            || self.signing_config.is_some();
        match (attest, given) {
            (true, _) => self.prepare().map(Some),
            (false, true) => bail!("the signing flags sign the attestation: add --attest"),
            (false, false) => Ok(None),
        }
    }

    /// Reads the key (or checks that a token can be had) before any work is done, so that a
    /// bad key costs nothing and attaches nothing.
    pub fn prepare(&self) -> anyhow::Result<Prepared> {
        self.check_services_are_used()?;
        let endpoints = self.endpoints()?;
        let credentials = match (&self.key, self.keyless) {
            (Some(path), false) => Credentials::Key {
                key: Box::new(super::keys::read_private_key(path)?),
                logged: self.tlog_upload,
            },
            (None, true) => {
                if self.identity_token.is_none()
                    && std::env::var_os("SIGSTORE_ID_TOKEN").is_none()
                    && std::env::var_os("ACTIONS_ID_TOKEN_REQUEST_URL").is_none()
                {
                    // The same error finding the token gives, before any work.
                    IdentityToken::find(None).map_err(anyhow::Error::msg)?;
                }
                Credentials::Keyless(self.identity_token.clone())
            }
            _ => bail!("give --key KEY or --keyless"),
        };
        Ok(Prepared {
            credentials,
            endpoints,
        })
    }
}

enum Credentials {
    Key {
        key: Box<PrivateKey>,
        logged: bool,
    },
    /// `--identity-token`, if given; the token is fetched when signing, not before: tokens
    /// and certificates are short-lived, and the work before signing may be long.
    Keyless(Option<String>),
}

/// Signing credentials, ready to sign.
pub struct Prepared {
    credentials: Credentials,
    endpoints: Endpoints,
}

impl Prepared {
    /// Runs `f` with a signer: the key, or an ephemeral key certified now.
    pub fn with_signer<T>(
        &self,
        f: impl FnOnce(&SigstoreSigner<'_>) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        let endpoints = self.endpoints.clone();
        match &self.credentials {
            Credentials::Key { key, logged: false } => f(&SigstoreSigner::with_key(key)),
            Credentials::Key { key, logged: true } => {
                let signer =
                    SigstoreSigner::with_key_logged(key, endpoints).map_err(anyhow::Error::msg)?;
                f(&signer)
            }
            Credentials::Keyless(given) => {
                let token = IdentityToken::find(given.as_deref()).map_err(anyhow::Error::msg)?;
                let signer = SigstoreSigner::keyless(&token, endpoints)
                    .map_err(anyhow::Error::msg)
                    .context("cannot get a signing certificate")?;
                f(&signer)
            }
        }
    }
}

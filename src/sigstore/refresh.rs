//! Refreshing a trusted root over TUF, on request only (`trusted-root update`): the Sigstore
//! TUF repository's metadata is verified from a pinned root (the public-good or staging one
//! built in, or one the user gives) through timestamp, snapshot and targets, and the
//! `trusted_root.json` target is written byte for byte as the repository signed it.
//! Verification never calls this: it reads the file written here.

use std::path::{Path, PathBuf};

use sigstore_trust_root::SigstoreInstance;
use sigstore_tuf::{FileStore, HttpRepository, Updater};

use super::services::Http;

/// The TUF target that holds the trusted root.
const TARGET: &str = "trusted_root.json";

/// Where to refresh from.
pub enum Repository {
    PublicGood,
    Staging,
    /// A TUF repository's URL and the root (JSON) to bootstrap trust from.
    Custom {
        url: String,
        root: Vec<u8>,
    },
}

impl Repository {
    /// The repository's URL and the TUF root to bootstrap trust from.
    fn source(&self) -> (&str, &[u8]) {
        match self {
            Repository::PublicGood => (
                SigstoreInstance::PublicGood.tuf_url(),
                SigstoreInstance::PublicGood.tuf_root(),
            ),
            Repository::Staging => (
                SigstoreInstance::Staging.tuf_url(),
                SigstoreInstance::Staging.tuf_root(),
            ),
            Repository::Custom { url, root } => (url, root),
        }
    }
}

/// Fetches and verifies the trusted root; `cache` keeps verified metadata between runs, so
/// that a repository cannot roll back to older metadata once newer was seen.
pub fn fetch(repository: &Repository, cache: Option<&Path>) -> Result<Vec<u8>, String> {
    let (url, root) = repository.source();
    let http = Http::for_signed_content()?;
    let transport = HttpRepository::new(url)
        .map_err(|e| format!("{url} is not a TUF repository URL: {e}"))?
        .with_http_client(http.client());
    let mut updater = Updater::new(transport, root)
        .map_err(|e| format!("the TUF root to start from does not verify: {e}"))?;
    if let Some(dir) = cache {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create the TUF cache {}: {e}", dir.display()))?;
        updater = updater.with_store(FileStore::new(dir));
    }
    http.block_on(async {
        let now = jiff::Timestamp::now();
        updater
            .refresh(now)
            .await
            .map_err(|e| format!("cannot refresh the TUF metadata of {url}: {e}"))?;
        updater
            .get_target(TARGET, now)
            .await
            .map_err(|e| format!("cannot get {TARGET} from {url}: {e}"))
    })
}

/// The default cache of a repository: `$XDG_CACHE_HOME` (else `~/.cache`)
/// `/modelseal/tuf/<host and path>`.
pub fn default_cache(repository: &Repository) -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
    let (url, _) = repository.source();
    let name: String = url
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    Some(base.join("modelseal").join("tuf").join(name))
}

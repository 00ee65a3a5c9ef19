//! Sigstore services for tests: `tests/sigstore/mock-services.js` (npm's @sigstore/mock, which
//! `.ci/run` installs into `target/npm-interop`) serving Fulcio, Rekor and a timestamp
//! authority on a free loopback port, with its trusted root written beside it. Stopped on drop.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub const NODE_MODULES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/target/npm-interop/node_modules"
);
const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/sigstore/mock-services.js"
);

pub struct Sigstore {
    child: Child,
    pub url: String,
    pub trusted_root: PathBuf,
}

impl Sigstore {
    /// Starts the services; `env` sets the mock's clocks (MOCK_FULCIO_CLOCK, …).
    pub fn start(dir: &Path, env: &[(&str, &str)]) -> Sigstore {
        assert!(
            Path::new(NODE_MODULES).join("@sigstore/mock").exists(),
            "@sigstore/mock is required: .ci/run installs it (npm install --prefix target/npm-interop @sigstore/mock@0.12.1)"
        );
        std::fs::create_dir_all(dir).unwrap();
        let trusted_root = dir.join("trusted_root.json");
        let mut child = Command::new("node")
            .arg(SCRIPT)
            .arg(&trusted_root)
            .env("NODE_PATH", NODE_MODULES)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node is required for the keyless tests");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line.trim().to_string();
        assert!(
            url.starts_with("http://127.0.0.1:"),
            "mock did not start: {url:?}"
        );
        Sigstore {
            child,
            url,
            trusted_root,
        }
    }

    /// The `--fulcio-url`/`--rekor-url` flags naming these services.
    pub fn flags(&self) -> Vec<String> {
        vec![
            "--fulcio-url".into(),
            self.url.clone(),
            "--rekor-url".into(),
            self.url.clone(),
        ]
    }

    pub fn timestamp_url(&self) -> String {
        format!("{}/api/v1/timestamp", self.url)
    }
}

impl Drop for Sigstore {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An unsigned JWT with these claims: the mock Fulcio reads claims without checking a
/// signature, as a real one would after checking it.
pub fn token(claims: &serde_json::Value) -> String {
    use base64::Engine as _;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    format!(
        "{}.{}.{}",
        b64(br#"{"alg":"RS256","typ":"JWT"}"#),
        b64(claims.to_string().as_bytes()),
        b64(b"not-checked-here")
    )
}

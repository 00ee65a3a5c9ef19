//! The Sigstore services a keyless signature needs: Fulcio (a certificate for an ephemeral
//! key), Rekor v1 (the transparency log) and an RFC 3161 timestamp authority, over HTTPS (plain
//! HTTP only to loopback addresses, for services started by tests), with bounded answers and
//! timeouts. Nothing here is on the verification path.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use zeroize::Zeroizing;

pub const PUBLIC_FULCIO_URL: &str = "https://fulcio.sigstore.dev";
pub const PUBLIC_REKOR_URL: &str = "https://rekor.sigstore.dev";

/// The most bytes read of any answer: certificate chains, log entries and timestamps are a
/// few KiB.
const MAX_ANSWER_BYTES: usize = 1 << 20;
const TIMEOUT: Duration = Duration::from_secs(60);

/// Where the services are.
#[derive(Clone, Debug)]
pub struct Endpoints {
    pub fulcio: String,
    pub rekor: String,
    pub timestamp: Option<String>,
}

impl Default for Endpoints {
    fn default() -> Self {
        Endpoints {
            fulcio: PUBLIC_FULCIO_URL.into(),
            rekor: PUBLIC_REKOR_URL.into(),
            timestamp: None,
        }
    }
}

/// What a signing config names, as of a time: `None` where it names no service valid then.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfiguredServices {
    pub fulcio: Option<String>,
    pub rekor: Option<String>,
    pub timestamp: Option<String>,
}

/// The services a Sigstore signing config (`application/vnd.dev.sigstore.signingconfig.v0.2+json`)
/// names, as of `now`: of the services valid then (`validFor`), the Fulcio and Rekor of API
/// version 1 and any timestamp authority, each the one that started last (the newest shard of
/// a log; the first listed among equals).
pub fn services_from_signing_config(
    bytes: &[u8],
    now: jiff::Timestamp,
) -> Result<ConfiguredServices, String> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Config {
        media_type: String,
        #[serde(default)]
        ca_urls: Vec<Service>,
        #[serde(default)]
        rekor_tlog_urls: Vec<Service>,
        #[serde(default)]
        tsa_urls: Vec<Service>,
    }
    crate::json::check_unique_keys(bytes).map_err(|e| e.to_string())?;
    let config: Config = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if !config
        .media_type
        .starts_with("application/vnd.dev.sigstore.signingconfig")
    {
        return Err(format!(
            "its media type is {:?}, not a signing config",
            config.media_type
        ));
    }
    Ok(ConfiguredServices {
        fulcio: current(&config.ca_urls, Some(1), now)?,
        rekor: current(&config.rekor_tlog_urls, Some(1), now)?,
        timestamp: current(&config.tsa_urls, None, now)?,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Service {
    url: String,
    #[serde(default)]
    major_api_version: u64,
    /// Absent: valid at any time.
    #[serde(default)]
    valid_for: Option<Validity>,
}

#[derive(Deserialize)]
struct Validity {
    start: String,
    #[serde(default)]
    end: Option<String>,
}

/// The URL of the service of `version` (any, for `None`) valid at `now` that started last.
fn current(
    services: &[Service],
    version: Option<u64>,
    now: jiff::Timestamp,
) -> Result<Option<String>, String> {
    let mut best: Option<(jiff::Timestamp, &Service)> = None;
    for service in services {
        if version.is_some_and(|v| v != service.major_api_version) {
            continue;
        }
        let time = |text: &str| {
            text.parse::<jiff::Timestamp>()
                .map_err(|e| format!("{}: validFor {text:?} is not a time: {e}", service.url))
        };
        let (start, end) = match &service.valid_for {
            Some(validity) => (
                time(&validity.start)?,
                validity.end.as_deref().map(time).transpose()?,
            ),
            None => (jiff::Timestamp::MIN, None),
        };
        let valid = start <= now && end.is_none_or(|end| now < end);
        if valid && best.is_none_or(|(latest, _)| start > latest) {
            best = Some((start, service));
        }
    }
    Ok(best.map(|(_, service)| service.url.clone()))
}

/// A blocking JSON client for the services.
pub struct Http {
    runtime: tokio::runtime::Runtime,
    client: reqwest::Client,
}

impl Http {
    /// A client for the Sigstore services: tokens and signatures never follow a redirect to
    /// another host.
    pub fn new() -> Result<Http, String> {
        Http::with_redirects(reqwest::redirect::Policy::none())
    }

    /// A client that follows redirects, for content verified whatever its source (TUF
    /// metadata, which mirrors and CDNs serve).
    pub fn for_signed_content() -> Result<Http, String> {
        Http::with_redirects(reqwest::redirect::Policy::limited(5))
    }

    fn with_redirects(policy: reqwest::redirect::Policy) -> Result<Http, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the HTTP runtime: {e}"))?;
        let client = {
            let _context = runtime.enter();
            reqwest::Client::builder()
                .user_agent(concat!("modelseal/", env!("CARGO_PKG_VERSION")))
                .timeout(TIMEOUT)
                .redirect(policy)
                .build()
        }
        .map_err(|e| format!("cannot set up HTTPS: {e}"))?;
        Ok(Http { runtime, client })
    }

    /// Runs `future` on this client's runtime.
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// The HTTP client, for libraries that make their own requests.
    pub fn client(&self) -> reqwest::Client {
        self.client.clone()
    }

    /// POSTs `body` as JSON and returns the answer's bytes (2xx only).
    pub fn post_json(&self, url: &str, body: &impl serde::Serialize) -> Result<Vec<u8>, String> {
        check_url(url)?;
        // The body may hold a token: it is written once into a buffer of its exact size (a
        // growing buffer would leave copies behind) and wiped when the client is done with it.
        let mut length = Counter(0);
        serde_json::to_writer(&mut length, body).map_err(|e| e.to_string())?;
        let mut bytes = Zeroizing::new(Vec::with_capacity(length.0));
        serde_json::to_writer(&mut *bytes, body).map_err(|e| e.to_string())?;
        let request = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(bytes::Bytes::from_owner(bytes));
        self.send(url, request)
    }

    /// GETs `url` with a bearer token (the GitHub Actions OIDC token request).
    pub fn get_with_bearer(&self, url: &str, token: &str) -> Result<Vec<u8>, String> {
        check_url(url)?;
        let request = self.client.get(url).bearer_auth(token);
        self.send(url, request)
    }

    fn send(&self, url: &str, request: reqwest::RequestBuilder) -> Result<Vec<u8>, String> {
        let shown = url.split('?').next().unwrap_or(url).to_string();
        self.runtime.block_on(async {
            let mut response = request
                .send()
                .await
                .map_err(|e| format!("{shown} cannot be reached: {e}"))?;
            let status = response.status();
            let mut body = Vec::new();
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|e| format!("{shown} broke off its answer: {e}"))?
            {
                if body.len().saturating_add(chunk.len()) > MAX_ANSWER_BYTES {
                    return Err(format!("{shown} answered over {MAX_ANSWER_BYTES} bytes"));
                }
                body.extend_from_slice(&chunk);
            }
            if !status.is_success() {
                let text = String::from_utf8_lossy(&body);
                let text: String = text.chars().take(300).collect();
                return Err(format!("{shown} answered {status}: {}", text.trim()));
            }
            Ok(body)
        })
    }
}

/// Counts the bytes written to it.
struct Counter(usize);

impl std::io::Write for Counter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0 = self.0.saturating_add(bytes.len());
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// HTTPS, or plain HTTP to a loopback address (tokens and signatures never go in the clear
/// over a network).
fn check_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    let host = parsed.host_str().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        other => Err(format!(
            "{url} uses {other}; Sigstore services are reached over HTTPS (plain HTTP only on loopback)"
        )),
    }
}

/// Asks Fulcio for a certificate binding `public_key_pem` to the token's identity;
/// `proof` is the key's signature over the token's subject. Returns the chain, leaf first, DER.
pub fn fulcio_certificate(
    http: &Http,
    endpoints: &Endpoints,
    token: &str,
    public_key_pem: &str,
    proof: &[u8],
) -> Result<Vec<Vec<u8>>, String> {
    let url = format!(
        "{}/api/v2/signingCert",
        endpoints.fulcio.trim_end_matches('/')
    );
    // Borrowed, not copied: the token's only other copy here is the request body, wiped after
    // use.
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Request<'a> {
        credentials: Credentials<'a>,
        public_key_request: Value,
    }
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Credentials<'a> {
        oidc_identity_token: &'a str,
    }
    let body = Request {
        credentials: Credentials {
            oidc_identity_token: token,
        },
        public_key_request: json!({
            "publicKey": {"algorithm": "ECDSA", "content": public_key_pem},
            "proofOfPossession": STANDARD.encode(proof),
        }),
    };
    let answer = http.post_json(&url, &body)?;
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Answer {
        signed_certificate_embedded_sct: Option<Chain>,
        signed_certificate_detached_sct: Option<Chain>,
    }
    #[derive(Deserialize)]
    struct Chain {
        chain: Certificates,
    }
    #[derive(Deserialize)]
    struct Certificates {
        certificates: Vec<String>,
    }
    let answer: Answer = serde_json::from_slice(&answer)
        .map_err(|e| format!("Fulcio's answer is not a certificate chain: {e}"))?;
    let chain = answer
        .signed_certificate_embedded_sct
        .or(answer.signed_certificate_detached_sct)
        .ok_or("Fulcio's answer holds no certificate chain")?;
    let der: Vec<Vec<u8>> = chain
        .chain
        .certificates
        .iter()
        .map(|pem| {
            pem::parse(pem)
                .map(pem::Pem::into_contents)
                .map_err(|e| format!("Fulcio sent a certificate that is not PEM: {e}"))
        })
        .collect::<Result<_, _>>()?;
    if der.is_empty() {
        return Err("Fulcio's answer holds no certificate".into());
    }
    Ok(der)
}

/// A Rekor v1 entry as the log returned it.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogEntry {
    /// Base64 of the canonicalized entry.
    pub body: String,
    pub integrated_time: i64,
    #[serde(rename = "logID")]
    pub log_id: String,
    pub log_index: i64,
    pub verification: LogVerification,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogVerification {
    pub signed_entry_timestamp: String,
    #[serde(default)]
    pub inclusion_proof: Option<InclusionProof>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InclusionProof {
    pub log_index: i64,
    /// Hex.
    pub root_hash: String,
    pub tree_size: i64,
    /// Hex, leaf to root.
    pub hashes: Vec<String>,
    pub checkpoint: String,
}

/// Logs `entry` (a proposed Rekor v1 entry) and returns what the log answered.
pub fn rekor_log(http: &Http, endpoints: &Endpoints, entry: &Value) -> Result<LogEntry, String> {
    let url = format!(
        "{}/api/v1/log/entries",
        endpoints.rekor.trim_end_matches('/')
    );
    let answer = http.post_json(&url, entry)?;
    // `{ "<uuid>": { ...entry } }`
    let map: std::collections::BTreeMap<String, LogEntry> = serde_json::from_slice(&answer)
        .map_err(|e| format!("Rekor's answer is not a log entry: {e}"))?;
    let mut entries = map.into_values();
    match (entries.next(), entries.next()) {
        (Some(entry), None) => Ok(entry),
        _ => Err("Rekor's answer does not hold exactly one entry".into()),
    }
}

/// Asks the timestamp authority to stamp `signature`; returns the DER timestamp response.
pub fn timestamp(http: &Http, url: &str, signature: &[u8]) -> Result<Vec<u8>, String> {
    let digest = crate::oci::Digest::sha256_of(signature);
    let raw = hex::decode(digest.hex()).map_err(|e| e.to_string())?;
    let body = json!({
        "artifactHash": STANDARD.encode(raw),
        "hashAlgorithm": "sha256",
        "certificates": true,
    });
    http.post_json(url, &body)
}

impl LogEntry {
    /// The entry as a bundle's `tlogEntries` item (protojson), with the promise and, when the
    /// log sent one, the inclusion proof.
    pub fn to_bundle_entry(&self) -> Result<Value, String> {
        let mut entry =
            crate::signature::sigstore_annotations::tlog_entry(&self.to_rekor_bundle())?;
        if let Some(proof) = &self.verification.inclusion_proof {
            let b64 = |hex_text: &str| -> Result<String, String> {
                hex::decode(hex_text)
                    .map(|raw| STANDARD.encode(raw))
                    .map_err(|e| format!("Rekor's inclusion proof: {e}"))
            };
            entry.insert(
                "inclusionProof".into(),
                json!({
                    "logIndex": proof.log_index.to_string(),
                    "rootHash": b64(&proof.root_hash)?,
                    "treeSize": proof.tree_size.to_string(),
                    "hashes": proof.hashes.iter().map(|h| b64(h)).collect::<Result<Vec<_>, _>>()?,
                    "checkpoint": {"envelope": proof.checkpoint},
                }),
            );
        }
        Ok(Value::Object(entry))
    }

    /// The entry as cosign's `dev.sigstore.cosign/bundle` annotation holds it.
    pub fn to_rekor_bundle(&self) -> crate::signature::sigstore_annotations::RekorBundle {
        use crate::signature::sigstore_annotations::{RekorBundle, RekorPayload};
        RekorBundle {
            signed_entry_timestamp: self.verification.signed_entry_timestamp.clone(),
            payload: RekorPayload {
                body: self.body.clone(),
                integrated_time: self.integrated_time,
                log_index: self.log_index,
                log_id: self.log_id.clone(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(rekor: Value) -> Vec<u8> {
        json!({
            "mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
            "caUrls": [{"url": "https://fulcio", "majorApiVersion": 1, "validFor": {"start": "2019-01-01T00:00:00Z"}}],
            "rekorTlogUrls": rekor,
            "tsaUrls": [{"url": "https://tsa", "majorApiVersion": 1}],
        })
        .to_string()
        .into_bytes()
    }

    fn at(text: &str) -> jiff::Timestamp {
        text.parse().unwrap()
    }

    fn rekor_at(logs: &Value, time: &str) -> Option<String> {
        services_from_signing_config(&config(logs.clone()), at(time))
            .unwrap()
            .rekor
    }

    #[test]
    fn a_signing_config_gives_the_newest_service_valid_now() {
        let logs = json!([
            {"url": "https://old", "majorApiVersion": 1, "validFor": {"start": "2021-01-01T00:00:00Z", "end": "2025-01-01T00:00:00Z"}},
            {"url": "https://current", "majorApiVersion": 1, "validFor": {"start": "2024-06-01T00:00:00Z"}},
            {"url": "https://next", "majorApiVersion": 1, "validFor": {"start": "2030-01-01T00:00:00Z"}},
            {"url": "https://v2", "majorApiVersion": 2, "validFor": {"start": "2025-01-01T00:00:00Z"}},
        ]);
        let named = services_from_signing_config(&config(logs.clone()), at("2026-12-05T00:00:00Z"))
            .unwrap();
        assert_eq!(named.rekor.as_deref(), Some("https://current"));
        assert_eq!(named.fulcio.as_deref(), Some("https://fulcio"));
        assert_eq!(named.timestamp.as_deref(), Some("https://tsa"));
        // Before the current shard started, the old one.
        assert_eq!(
            rekor_at(&logs, "2024-01-01T00:00:00Z").as_deref(),
            Some("https://old")
        );
        // Before anything started: no log valid then.
        assert_eq!(rekor_at(&logs, "2020-01-01T00:00:00Z"), None);
    }

    #[test]
    fn a_window_ends_before_its_end_time() {
        let old = json!([{"url": "https://old", "majorApiVersion": 1, "validFor": {"start": "2021-01-01T00:00:00Z", "end": "2025-01-01T00:00:00Z"}}]);
        assert_eq!(
            rekor_at(&old, "2024-12-31T23:59:59Z").as_deref(),
            Some("https://old")
        );
        assert_eq!(rekor_at(&old, "2025-01-01T00:00:00Z"), None);
    }

    #[test]
    fn the_counter_sizes_a_body_exactly() {
        let body = json!({"credentials": {"oidcIdentityToken": "t".repeat(1000)}, "x": [1, 2]});
        let mut length = Counter(0);
        serde_json::to_writer(&mut length, &body).unwrap();
        assert_eq!(length.0, serde_json::to_vec(&body).unwrap().len());
    }

    #[test]
    fn a_v2_only_config_names_no_log_and_a_bad_window_is_refused() {
        let v2 = json!([{"url": "https://v2", "majorApiVersion": 2, "validFor": {"start": "2025-01-01T00:00:00Z"}}]);
        assert_eq!(rekor_at(&v2, "2026-12-05T00:00:00Z"), None);
        let bad =
            json!([{"url": "https://x", "majorApiVersion": 1, "validFor": {"start": "yesterday"}}]);
        let error =
            services_from_signing_config(&config(bad), at("2026-12-05T00:00:00Z")).unwrap_err();
        assert!(error.contains("is not a time"), "{error}");
    }
}

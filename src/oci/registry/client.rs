//! HTTP to one registry repository: the scheme, authentication answered as the registry
//! challenges (basic, or bearer tokens from its token service), bounded retries of idempotent
//! requests, and bounded reads of answers. Nothing is sent before it is needed: no probe of
//! `/v2/`, no token before a challenge.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{AUTHORIZATION, HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE};
use reqwest::{Method, RequestBuilder, Response, StatusCode, Url};
use zeroize::Zeroizing;

use super::RegistryOptions;
use super::auth::{Challenge, Credentials, TokenResponse};
use crate::oci::StoreError;

/// Requests that may be repeated are tried this often in all.
const RETRY_ATTEMPTS: u32 = 8;
const RETRY_FIRST_PAUSE: Duration = Duration::from_millis(50);
/// The longest pause a `Retry-After` header can ask for.
const RETRY_LONGEST_PAUSE: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a read may wait for the next bytes before the connection counts as dropped.
const READ_TIMEOUT: Duration = Duration::from_secs(120);
/// The most bytes of an error answer or a token read.
const SMALL_ANSWER_BYTES: u64 = 64 << 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scheme {
    Https,
    Http,
    /// HTTPS, else plain HTTP when the TLS handshake fails: loopback registries, as docker
    /// treats them.
    HttpsThenHttp,
}

/// What a registry's error answer said.
pub(super) struct Answer {
    pub status: StatusCode,
    /// The `errors[].code` values of the distribution spec's error envelope.
    pub codes: Vec<String>,
    detail: String,
}

pub(super) struct Client {
    http: reqwest::Client,
    pub runtime: Arc<tokio::runtime::Runtime>,
    host: String,
    repository: String,
    scheme: Mutex<Scheme>,
    credentials: Credentials,
    /// The `Authorization` value in use, once a challenge was answered.
    authorization: Mutex<Option<Zeroizing<String>>>,
}

impl Client {
    pub(super) fn new(
        host: &str,
        repository: &str,
        options: &RegistryOptions,
    ) -> Result<Client, StoreError> {
        let location = format!("{host}/{repository}");
        let operational = |message: String| StoreError::Remote {
            location: location.clone(),
            message,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError::io("tokio runtime", e))?;
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("modelseal/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT);
        for path in &options.ca_certs {
            let pem = std::fs::read(path).map_err(|e| {
                operational(format!(
                    "cannot read the CA certificate file {}: {e}",
                    path.display()
                ))
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                operational(format!("{} holds no PEM certificates: {e}", path.display()))
            })?;
            if certs.is_empty() {
                return Err(operational(format!(
                    "{} holds no PEM certificates",
                    path.display()
                )));
            }
            builder = builder.tls_certs_merge(certs);
        }
        // The connector's timers belong to the runtime that drives every request.
        let http = {
            let _context = runtime.enter();
            builder.build()
        }
        .map_err(|e| operational(format!("cannot set up HTTPS: {e}")))?;
        let scheme = if options.plain_http {
            Scheme::Http
        } else if is_loopback(host) {
            Scheme::HttpsThenHttp
        } else {
            Scheme::Https
        };
        Ok(Client {
            http,
            runtime: Arc::new(runtime),
            host: host.to_string(),
            repository: repository.to_string(),
            scheme: Mutex::new(scheme),
            credentials: Credentials::from_docker_config(host).map_err(operational)?,
            authorization: Mutex::new(None),
        })
    }

    pub(super) fn location(&self) -> String {
        format!("{}/{}", self.host, self.repository)
    }

    fn scheme(&self) -> Scheme {
        self.scheme.lock().map_or(Scheme::Https, |s| *s)
    }

    fn base(&self) -> Result<Url, StoreError> {
        let scheme = match self.scheme() {
            Scheme::Http => "http",
            Scheme::Https | Scheme::HttpsThenHttp => "https",
        };
        Url::parse(&format!("{scheme}://{}/", self.host)).map_err(|e| StoreError::Remote {
            location: self.location(),
            message: format!("{:?} is not a usable registry host: {e}", self.host),
        })
    }

    /// The URL of `path` (`/v2/…`) or of an address the registry gave (a `Location` or
    /// `Link`), which must stay on this registry: credentials go nowhere else.
    pub(super) fn url(&self, target: &str) -> Result<Url, StoreError> {
        let base = self.base()?;
        let url = base.join(target).map_err(|e| StoreError::Remote {
            location: self.location(),
            message: format!("the registry gave an unusable address {target:?}: {e}"),
        })?;
        if url.origin() != base.origin() {
            return Err(StoreError::Remote {
                location: self.location(),
                message: format!(
                    "the registry sent modelseal to another server ({}); refusing to send credentials there",
                    url.origin().ascii_serialization()
                ),
            });
        }
        Ok(url)
    }

    /// The path of this repository's `kind` endpoint (`manifests`, `blobs`, …).
    pub(super) fn path(&self, kind: &str, name: &str) -> String {
        format!("/v2/{}/{kind}/{name}", self.repository)
    }

    /// Sends a request built by `prepare` (which may be called again), answering an
    /// authentication challenge once and, when `idempotent`, trying again after transient
    /// failures. Any HTTP status comes back as an answer; only an unreachable registry is an
    /// error.
    pub(super) fn send(
        &self,
        method: Method,
        target: &str,
        prepare: impl Fn(RequestBuilder) -> RequestBuilder,
        idempotent: bool,
    ) -> Result<Response, StoreError> {
        let mut challenged = false;
        let mut pause = RETRY_FIRST_PAUSE;
        let mut attempt = 1;
        loop {
            let request = self.authorized(prepare(
                self.http.request(method.clone(), self.url(target)?),
            ));
            let retry = idempotent && attempt < RETRY_ATTEMPTS;
            let result = self.runtime.block_on(async { request.send().await });
            if result.is_ok() {
                self.settle_https();
            }
            match result {
                Ok(response) if response.status() == StatusCode::UNAUTHORIZED && !challenged => {
                    challenged = true;
                    self.answer_challenge(&response, &method)?;
                    continue;
                }
                Ok(response) if retry && is_transient_status(response.status()) => {
                    std::thread::sleep(retry_after(&response).unwrap_or_else(|| jittered(pause)));
                }
                Ok(response) => return Ok(response),
                Err(e) if self.fell_back_to_http(&e) => continue,
                Err(e) if retry && is_transient_error(&e) => std::thread::sleep(jittered(pause)),
                Err(e) => return Err(self.unreachable(&e)),
            }
            pause = pause.saturating_mul(2);
            attempt = attempt.saturating_add(1);
        }
    }

    /// Sends a request whose body cannot be sent twice (a streamed upload): once, with the
    /// authorization earlier requests of this session established.
    pub(super) fn send_once(&self, request: RequestBuilder) -> Result<Response, StoreError> {
        self.runtime
            .block_on(async { self.authorized(request).send().await })
            .map_err(|e| self.unreachable(&e))
    }

    /// A builder for [`Client::send_once`].
    pub(super) fn request(
        &self,
        method: Method,
        target: &str,
    ) -> Result<RequestBuilder, StoreError> {
        Ok(self.http.request(method, self.url(target)?))
    }

    fn authorized(&self, request: RequestBuilder) -> RequestBuilder {
        match self.authorization.lock().ok().and_then(|a| a.clone()) {
            Some(value) => match HeaderValue::from_str(&value) {
                Ok(mut value) => {
                    value.set_sensitive(true);
                    request.header(AUTHORIZATION, value)
                }
                Err(_) => request,
            },
            None => request,
        }
    }

    /// A loopback registry that does not speak TLS is spoken to over plain HTTP from now on.
    /// One that speaks it with a certificate modelseal does not trust is not: that is an
    /// error to report, not a reason to drop TLS.
    fn fell_back_to_http(&self, error: &reqwest::Error) -> bool {
        let Ok(mut scheme) = self.scheme.lock() else {
            return false;
        };
        if *scheme == Scheme::HttpsThenHttp && error.is_connect() && !is_certificate_error(error) {
            *scheme = Scheme::Http;
            return true;
        }
        false
    }

    /// An answer over HTTPS settles the scheme of a loopback registry.
    fn settle_https(&self) {
        if let Ok(mut scheme) = self.scheme.lock()
            && *scheme == Scheme::HttpsThenHttp
        {
            *scheme = Scheme::Https;
        }
    }

    fn unreachable(&self, error: &reqwest::Error) -> StoreError {
        if is_certificate_error(error) {
            return StoreError::Remote {
                location: self.location(),
                message: format!(
                    "the registry's TLS certificate is not trusted ({}); if a private certificate authority issued it, pass its PEM file with --ca-cert",
                    error_chain(error)
                ),
            };
        }
        StoreError::Unavailable {
            location: self.location(),
            message: format!("cannot reach the registry: {}", error_chain(error)),
        }
    }

    /// Works out the `Authorization` the registry's `WWW-Authenticate` asks for.
    fn answer_challenge(&self, response: &Response, method: &Method) -> Result<(), StoreError> {
        let challenge = response
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .and_then(Challenge::parse);
        let refused = |message: String| StoreError::Remote {
            location: self.location(),
            message,
        };
        let value = match (challenge, &self.credentials) {
            (Some(Challenge::Basic), Credentials::Basic { username, password }) => {
                use base64::Engine;
                let pair = Zeroizing::new(format!("{username}:{}", password.as_str()));
                Zeroizing::new(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair.as_bytes())
                ))
            }
            (
                Some(Challenge::Bearer {
                    realm,
                    service,
                    scope,
                }),
                _,
            ) => {
                let scope = scope.unwrap_or_else(|| self.default_scope(method));
                let token = self.fetch_token(&realm, service.as_deref(), &scope)?;
                Zeroizing::new(format!("Bearer {}", token.as_str()))
            }
            (Some(Challenge::Basic), _) => {
                return Err(refused(format!(
                    "the registry asks for a username and password, and the Docker config has none for {host}; run `docker login {host}`",
                    host = self.host
                )));
            }
            (None, _) => {
                return Err(refused(
                    "the registry answered 401 Unauthorized without a challenge modelseal understands".into(),
                ));
            }
        };
        if let Ok(mut authorization) = self.authorization.lock() {
            *authorization = Some(value);
        }
        Ok(())
    }

    fn default_scope(&self, method: &Method) -> String {
        let actions = if method == Method::GET || method == Method::HEAD {
            "pull"
        } else {
            "pull,push"
        };
        format!("repository:{}:{actions}", self.repository)
    }

    /// A bearer token from the registry's token service, for `scope`: docker's GET flow with
    /// basic credentials (or none), or OAuth2's refresh-token grant for an identity token.
    fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        scope: &str,
    ) -> Result<Zeroizing<String>, StoreError> {
        let failed = |message: String| StoreError::Remote {
            location: self.location(),
            message: format!("getting a token from {realm}: {message}"),
        };
        let url = Url::parse(realm).map_err(|e| failed(e.to_string()))?;
        // Credentials travel in the clear only where the registry itself is plain HTTP.
        if url.scheme() != "https" && !(url.scheme() == "http" && self.scheme() == Scheme::Http) {
            return Err(failed("the token service is not HTTPS".into()));
        }
        let scopes: Vec<&str> = scope.split_whitespace().collect();
        let request = match &self.credentials {
            Credentials::IdentityToken(refresh) => {
                let mut form = vec![
                    ("grant_type", "refresh_token"),
                    ("client_id", "modelseal"),
                    ("refresh_token", refresh.as_str()),
                ];
                form.extend(service.map(|s| ("service", s)));
                let joined = scopes.join(" ");
                form.push(("scope", &joined));
                self.http.post(url).form(&form)
            }
            credentials => {
                let mut query: Vec<(&str, &str)> = scopes.iter().map(|s| ("scope", *s)).collect();
                query.extend(service.map(|s| ("service", s)));
                let request = self.http.get(url).query(&query);
                match credentials {
                    Credentials::Basic { username, password } => {
                        request.basic_auth(username, Some(password.as_str()))
                    }
                    _ => request,
                }
            }
        };
        let response = self
            .runtime
            .block_on(async { request.send().await })
            .map_err(|e| failed(error_chain(&e)))?;
        let status = response.status();
        let body = self.read_bounded(response, SMALL_ANSWER_BYTES, "the token")?;
        if !status.is_success() {
            let hint = if self.credentials.is_anonymous() {
                format!(
                    "; if the repository is private, run `docker login {}`",
                    self.host
                )
            } else {
                format!(
                    "; check the credentials for {} in the Docker config",
                    self.host
                )
            };
            return Err(failed(format!("the token service answered {status}{hint}")));
        }
        serde_json::from_slice::<TokenResponse>(&body)
            .ok()
            .and_then(TokenResponse::into_token)
            .ok_or_else(|| failed("the answer holds no token".into()))
    }

    /// Reads a whole answer of at most `limit` bytes.
    pub(super) fn read_bounded(
        &self,
        mut response: Response,
        limit: u64,
        what: &str,
    ) -> Result<Vec<u8>, StoreError> {
        let too_large = |size: u64| StoreError::TooLarge {
            what: what.to_string(),
            size,
            limit,
        };
        if let Some(length) = response.content_length()
            && length > limit
        {
            return Err(too_large(length));
        }
        let mut bytes = Vec::new();
        loop {
            let chunk: Option<Bytes> = self
                .runtime
                .block_on(response.chunk())
                .map_err(|e| self.unreachable(&e))?;
            let Some(chunk) = chunk else {
                return Ok(bytes);
            };
            let size = (bytes.len() as u64).saturating_add(chunk.len() as u64);
            if size > limit {
                return Err(too_large(size));
            }
            bytes.extend_from_slice(&chunk);
        }
    }

    /// Reads what went wrong from an answer that is not the one expected.
    pub(super) fn answer(&self, response: Response) -> Answer {
        let status = response.status();
        let body = self
            .read_bounded(response, SMALL_ANSWER_BYTES, "an error answer")
            .unwrap_or_default();
        let envelope = serde_json::from_slice::<ErrorEnvelope>(&body).unwrap_or_default();
        let codes = envelope.errors.iter().map(|e| e.code.clone()).collect();
        let detail = envelope
            .errors
            .iter()
            .map(|e| format!("{}: {}", e.code, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        Answer {
            status,
            codes,
            detail: printable(&detail),
        }
    }

    /// The error for an answer that is not the one expected.
    pub(super) fn failure(&self, what: &str, answer: &Answer) -> StoreError {
        let status = answer.status;
        let detail = if answer.detail.is_empty() {
            String::new()
        } else {
            format!(" ({})", answer.detail)
        };
        let message = format!("{what}: the registry answered {status}{detail}");
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return StoreError::Remote {
                location: self.location(),
                message: format!(
                    "{message}; check the credentials for {host} in the Docker config (`docker login {host}`)",
                    host = self.host
                ),
            };
        }
        if is_transient_status(status) {
            return StoreError::Unavailable {
                location: self.location(),
                message,
            };
        }
        StoreError::Remote {
            location: self.location(),
            message,
        }
    }

    /// Reads an unexpected answer into its error.
    pub(super) fn fail(&self, what: &str, response: Response) -> StoreError {
        let answer = self.answer(response);
        self.failure(what, &answer)
    }
}

#[derive(Default, serde::Deserialize)]
struct ErrorEnvelope {
    #[serde(default)]
    errors: Vec<ErrorEntry>,
}

#[derive(serde::Deserialize)]
struct ErrorEntry {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// A registry's words, shortened and stripped of control characters before they reach a
/// terminal.
fn printable(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(300).collect()
}

fn error_chain(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

/// Whether TLS failed over the server's certificate (as opposed to the server not speaking
/// TLS at all).
fn is_certificate_error(error: &reqwest::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = cause {
        if let Some(tls) = current.downcast_ref::<rustls::Error>() {
            return matches!(
                tls,
                rustls::Error::InvalidCertificate(_)
                    | rustls::Error::NoCertificatesPresented
                    | rustls::Error::InvalidCertRevocationList(_)
            );
        }
        // An io::Error hides the error it wraps from `source()`: step inside it instead.
        cause = match current.downcast_ref::<std::io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => current.source(),
        };
    }
    false
}

/// 429 and the server-side failures a later try may not meet.
pub(super) fn is_transient_status(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::INTERNAL_SERVER_ERROR
        || status == StatusCode::BAD_GATEWAY
        || status == StatusCode::SERVICE_UNAVAILABLE
        || status == StatusCode::GATEWAY_TIMEOUT
}

/// A connection that failed or broke, which may work next time; an untrusted certificate
/// will not.
fn is_transient_error(error: &reqwest::Error) -> bool {
    (error.is_connect() || error.is_timeout() || error.is_request() || error.is_body())
        && !is_certificate_error(error)
}

/// The pause a 429 or 503 asks for in seconds, bounded.
fn retry_after(response: &Response) -> Option<Duration> {
    let seconds: u64 = response
        .headers()
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(seconds).min(RETRY_LONGEST_PAUSE))
}

/// A pause stretched by up to half again at random, so that writers retrying together spread.
pub(super) fn jittered(pause: Duration) -> Duration {
    let mut byte = [0u8; 1];
    let spread = match getrandom::fill(&mut byte) {
        Ok(()) => u32::from(byte[0]),
        Err(_) => 0,
    };
    pause.saturating_add(
        pause
            .saturating_mul(spread)
            .checked_div(510)
            .unwrap_or_default(),
    )
}

/// Loopback registries may be plain HTTP, as docker allows; others must be HTTPS unless the
/// user says `--plain-http`.
pub(super) fn is_loopback(host: &str) -> bool {
    let name = host
        .rsplit_once(':')
        .filter(|(name, port)| !port.contains(']') && !name.is_empty())
        .map_or(host, |(name, _)| name);
    name == "localhost"
        || name == "[::1]"
        || name
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_may_use_plain_http() {
        for host in [
            "localhost",
            "localhost:5000",
            "127.0.0.1:5000",
            "127.1.2.3",
            "[::1]:5000",
        ] {
            assert!(is_loopback(host), "{host}");
        }
        for host in [
            "registry.example.com",
            "10.0.0.1:5000",
            "127.example.com",
            "[::2]:5000",
        ] {
            assert!(!is_loopback(host), "{host}");
        }
    }

    #[test]
    fn addresses_stay_on_the_registry() {
        let client = Client::new(
            "registry.example.com",
            "models/tiny",
            &RegistryOptions::default(),
        )
        .unwrap();
        assert_eq!(
            client
                .url("/v2/models/tiny/tags/list?n=10&last=a")
                .unwrap()
                .as_str(),
            "https://registry.example.com/v2/models/tiny/tags/list?n=10&last=a"
        );
        assert!(client.url("https://registry.example.com/v2/x").is_ok());
        let plain = Client::new(
            "registry.example.com",
            "models/tiny",
            &RegistryOptions {
                plain_http: true,
                ca_certs: Vec::new(),
            },
        )
        .unwrap();
        assert_eq!(
            plain.url("/v2/").unwrap().as_str(),
            "http://registry.example.com/v2/"
        );
        for elsewhere in [
            "https://evil.example.com/v2/x",
            "http://registry.example.com/v2/x",
            "https://registry.example.com:444/v2/x",
            "//evil.example.com/v2/x",
        ] {
            assert!(client.url(elsewhere).is_err(), "{elsewhere}");
        }
    }
}

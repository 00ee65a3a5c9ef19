//! HTTP to one registry repository: the scheme, authentication answered as the registry
//! challenges (basic, or bearer tokens from its token service), bounded retries of idempotent
//! requests, and bounded reads of answers. Nothing is sent before it is needed: no probe of
//! `/v2/`, no token before a challenge.

use std::sync::Mutex;
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
/// How long an answer may take to begin, and a body to send its next bytes, before the
/// connection counts as dropped.
const STALL_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a `PUT` may take to be answered: it commits a manifest or a whole uploaded blob,
/// which a registry on object storage may take minutes to move into place.
const COMMIT_TIMEOUT: Duration = Duration::from_secs(30 * 60);
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

/// Why a request got no answer.
enum Sent {
    Failed(reqwest::Error),
    TimedOut,
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
    runtime: tokio::runtime::Runtime,
    host: String,
    repository: String,
    scheme: Mutex<Scheme>,
    credentials: Credentials,
    /// The `Authorization` value in use, once a challenge was answered.
    authorization: Mutex<Option<Zeroizing<String>>>,
    /// Every scope a token was asked for so far. A new token is asked for all of them, so
    /// that one request's narrower challenge (a pull) never takes away what another request
    /// of this session holds (a push under way).
    scopes: Mutex<std::collections::BTreeSet<String>>,
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
        // No client-wide read timeout: reqwest's runs from the start of a request to its
        // answer, which would cut off every upload that takes longer. Answers and body reads
        // are timed here instead, and sent data that goes unacknowledged ends the connection.
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("modelseal/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_keepalive(Duration::from_secs(30))
            .tcp_user_timeout(STALL_TIMEOUT);
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
        let scheme = if options.plain_http.iter().any(|h| h == host) {
            Scheme::Http
        } else if is_loopback(host) {
            Scheme::HttpsThenHttp
        } else {
            Scheme::Https
        };
        Ok(Client {
            http,
            runtime,
            host: host.to_string(),
            repository: repository.to_string(),
            scheme: Mutex::new(scheme),
            credentials: Credentials::from_docker_config(host).map_err(operational)?,
            authorization: Mutex::new(None),
            scopes: Mutex::new(std::collections::BTreeSet::new()),
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
            let wait = if method == Method::PUT {
                COMMIT_TIMEOUT
            } else {
                STALL_TIMEOUT
            };
            let result = self.answer_within(request, wait);
            if result.is_ok() {
                self.settle_https();
            }
            match result {
                Ok(response)
                    if response.status() == StatusCode::UNAUTHORIZED
                        && !challenged
                        && self.is_registry(&response) =>
                {
                    challenged = true;
                    self.answer_challenge(&response, &method)?;
                    continue;
                }
                Ok(response) if retry && is_transient_status(response.status()) => {
                    std::thread::sleep(retry_after(&response).unwrap_or_else(|| jittered(pause)));
                }
                Ok(response) => return Ok(response),
                Err(Sent::Failed(e)) if self.fell_back_to_http(&e) => continue,
                Err(Sent::Failed(e)) if retry && is_transient_error(&e) => {
                    std::thread::sleep(jittered(pause));
                }
                Err(Sent::TimedOut) if retry => std::thread::sleep(jittered(pause)),
                Err(e) => return Err(self.unsent(&e)),
            }
            pause = pause.saturating_mul(2);
            attempt = attempt.saturating_add(1);
        }
    }

    /// Sends a request whose body cannot be sent twice (a streamed upload): once, with the
    /// authorization earlier requests of this session established. Sending takes as long as
    /// the body does; a stall ends it (unacknowledged data), and the answer may take as long as
    /// a commit.
    pub(super) fn send_once(&self, request: RequestBuilder) -> Result<Response, StoreError> {
        self.answer_within(self.authorized(request), COMMIT_TIMEOUT)
            .map_err(|e| self.unsent(&e))
    }

    /// Sends a request and waits at most `wait` for its answer to begin.
    fn answer_within(&self, request: RequestBuilder, wait: Duration) -> Result<Response, Sent> {
        self.runtime.block_on(async {
            match tokio::time::timeout(wait, request.send()).await {
                Ok(Ok(response)) => Ok(response),
                Ok(Err(e)) => Err(Sent::Failed(e)),
                Err(_) => Err(Sent::TimedOut),
            }
        })
    }

    /// The next chunk of an answer's body, `None` at its end; no data for a while counts as
    /// a dropped connection.
    pub(super) fn next_chunk(&self, response: &mut Response) -> Result<Option<Bytes>, StoreError> {
        self.runtime
            .block_on(async { tokio::time::timeout(STALL_TIMEOUT, response.chunk()).await })
            .map_err(|_| self.unsent(&Sent::TimedOut))?
            .map_err(|e| self.unsent(&Sent::Failed(e)))
    }

    /// Whether an answer came from the registry itself, not from a host a redirect led to: only
    /// the registry's own challenges are answered with credentials.
    fn is_registry(&self, response: &Response) -> bool {
        self.base()
            .is_ok_and(|base| base.origin() == response.url().origin())
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

    fn unsent(&self, failure: &Sent) -> StoreError {
        let error = match failure {
            Sent::Failed(e) => e,
            Sent::TimedOut => {
                return StoreError::Unavailable {
                    location: self.location(),
                    message: format!(
                        "the registry sent nothing for {} s",
                        STALL_TIMEOUT.as_secs()
                    ),
                };
            }
        };
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
                let scopes = self.all_scopes(&scope);
                let token = self.fetch_token(&realm, service.as_deref(), &scopes)?;
                Zeroizing::new(format!("Bearer {}", token.as_str()))
            }
            (Some(Challenge::Basic), Credentials::IdentityToken(_)) => {
                return Err(refused(format!(
                    "the registry asks for a username and password, and the Docker config holds an identity token for {host}, which only token services take; log in with a username and password",
                    host = self.host
                )));
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

    /// `scope` (space-separated) and every scope asked for before, space-separated.
    fn all_scopes(&self, scope: &str) -> String {
        match self.scopes.lock() {
            Ok(mut scopes) => {
                scopes.extend(scope.split_whitespace().map(str::to_string));
                scopes.iter().cloned().collect::<Vec<_>>().join(" ")
            }
            Err(_) => scope.to_string(),
        }
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
        // Credentials travel in the clear only to a registry spoken to in the clear already.
        let same_host = url.host_str().is_some_and(|h| {
            self.host == h
                || self
                    .host
                    .rsplit_once(':')
                    .is_some_and(|(name, _)| name == h)
        });
        let clear_allowed = url.scheme() == "http" && self.scheme() == Scheme::Http && same_host;
        if url.scheme() != "https" && !clear_allowed {
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
            .answer_within(request, STALL_TIMEOUT)
            .map_err(|e| failed(self.unsent(&e).to_string()))?;
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
            let Some(chunk) = self.next_chunk(&mut response)? else {
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
        let (codes, detail) = super::wire::error_envelope(&body);
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
    fn a_new_token_is_asked_for_every_scope_so_far() {
        let client = Client::new("registry.example.com", "a", &RegistryOptions::default()).unwrap();
        assert_eq!(
            client.all_scopes("repository:a:pull,push"),
            "repository:a:pull,push"
        );
        assert_eq!(
            client.all_scopes("repository:a:pull repository:b:pull"),
            "repository:a:pull repository:a:pull,push repository:b:pull"
        );
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
                plain_http: vec!["registry.example.com".into()],
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

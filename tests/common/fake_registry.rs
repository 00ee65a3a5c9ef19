//! A small in-memory OCI registry for the paths Debian's docker-registry cannot show: the
//! referrers API (`GET /v2/<name>/referrers/<digest>` with `artifactType` filtering, `Link`
//! pagination and `OCI-Subject` on referrer pushes), bearer-token authentication, and
//! misbehaviour on purpose (wrong manifest bytes, blobs longer than their descriptor, endless
//! manifests, downloads cut short, failing referrers listings).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use sha2::{Digest as _, Sha256};

/// How the fake registry behaves; the default is a well-behaved registry with the referrers
/// API.
#[derive(Clone, Debug)]
pub struct Behaviour {
    /// Serve the referrers API (else answer it 404, as registries without it do).
    pub referrers_api: bool,
    /// Entries per page of a referrers listing; 0 for one page.
    pub page_size: usize,
    /// Apply an `artifactType` filter and say so in `OCI-Filters-Applied`.
    pub filter_artifact_type: bool,
    /// List every manifest with a subject as a referrer of any subject asked about.
    pub list_every_referrer: bool,
    /// Answer referrers listings with this status.
    pub referrers_status: Option<u16>,
    /// Want bearer tokens, given by `/token` for this username and password or this identity
    /// (refresh) token.
    pub bearer: Option<(String, String, String)>,
    /// Serve every manifest with one byte changed.
    pub tamper_manifests: bool,
    /// Serve every manifest as 20 MiB, with no `Content-Length`.
    pub endless_manifests: bool,
    /// Serve every blob with extra bytes after it.
    pub long_blobs: bool,
    /// Cut the first download of each blob after this many bytes.
    pub cut_downloads_after: Option<usize>,
    /// Answer this many blob downloads 503 first.
    pub failing_downloads: usize,
    /// Redirect blob downloads to this base URL (another server).
    pub redirect_blobs_to: Option<String>,
}

impl Default for Behaviour {
    fn default() -> Behaviour {
        Behaviour {
            referrers_api: true,
            page_size: 0,
            filter_artifact_type: true,
            list_every_referrer: false,
            referrers_status: None,
            bearer: None,
            tamper_manifests: false,
            endless_manifests: false,
            long_blobs: false,
            cut_downloads_after: None,
            failing_downloads: 0,
            redirect_blobs_to: None,
        }
    }
}

#[derive(Default)]
struct State {
    behaviour: Behaviour,
    blobs: HashMap<String, Bytes>,
    /// Which repositories hold which blobs (for mounts).
    holds: HashSet<(String, String)>,
    /// (repository, digest) → (media type, bytes).
    manifests: BTreeMap<(String, String), (String, Bytes)>,
    tags: BTreeMap<(String, String), String>,
    uploads: HashMap<String, Vec<u8>>,
    cut: HashSet<String>,
    failed_downloads: usize,
    tokens: HashSet<String>,
    requests: Vec<String>,
    next_id: u64,
}

pub struct FakeRegistry {
    pub addr: String,
    state: Arc<Mutex<State>>,
    runtime: Option<tokio::runtime::Runtime>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl FakeRegistry {
    pub fn start() -> FakeRegistry {
        FakeRegistry::start_with(Behaviour::default())
    }

    pub fn start_with(behaviour: Behaviour) -> FakeRegistry {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let state = Arc::new(Mutex::new(State {
            behaviour,
            ..State::default()
        }));
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let shared = state.clone();
        let realm = format!("http://{addr}/token");
        let app = axum::Router::new()
            .fallback(
                move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                    let state = shared.clone();
                    let realm = realm.clone();
                    async move { handle(&state, &realm, method, uri, headers, body) }
                },
            )
            .layer(axum::extract::DefaultBodyLimit::disable());
        runtime.spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        FakeRegistry {
            addr,
            state,
            runtime: Some(runtime),
            shutdown: Some(shutdown),
        }
    }

    pub fn reference(&self, repository: &str) -> String {
        format!("{}/{repository}", self.addr)
    }

    /// The requests answered so far, as `METHOD path?query`.
    pub fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().requests.clone()
    }

    pub fn set_behaviour(&self, behaviour: Behaviour) {
        self.state.lock().unwrap().behaviour = behaviour;
    }

    pub fn tags(&self, repository: &str) -> Vec<String> {
        let state = self.state.lock().unwrap();
        state
            .tags
            .keys()
            .filter(|(repo, _)| repo == repository)
            .map(|(_, tag)| tag.clone())
            .collect()
    }

    pub fn has_blob(&self, digest: &str) -> bool {
        self.state.lock().unwrap().blobs.contains_key(digest)
    }

    /// Every manifest of `repository` that names a blob the registry does not hold.
    pub fn manifests_missing_blobs(&self, repository: &str) -> Vec<String> {
        let state = self.state.lock().unwrap();
        state
            .manifests
            .iter()
            .filter(|((repo, _), _)| repo == repository)
            .filter(|(_, (_, bytes))| {
                let value: serde_json::Value = serde_json::from_slice(bytes).unwrap();
                let mut blobs: Vec<&serde_json::Value> = value["layers"]
                    .as_array()
                    .map(|l| l.iter().collect())
                    .unwrap_or_default();
                blobs.extend(value.get("config"));
                blobs.iter().any(|b| {
                    let digest = b["digest"].as_str().unwrap_or_default();
                    !state
                        .holds
                        .contains(&(repository.to_string(), digest.to_string()))
                })
            })
            .map(|((_, digest), _)| digest.clone())
            .collect()
    }
}

impl Drop for FakeRegistry {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(std::time::Duration::from_secs(1));
        }
    }
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn answer(status: StatusCode) -> axum::http::response::Builder {
    Response::builder()
        .status(status)
        .header("Docker-Distribution-API-Version", "registry/2.0")
}

fn error(status: StatusCode, code: &str) -> Response {
    answer(status)
        .header("Content-Type", "application/json")
        .body(Body::from(format!(
            r#"{{"errors":[{{"code":"{code}","message":"{code}"}}]}}"#
        )))
        .unwrap()
}

fn query(uri: &Uri) -> Vec<(String, String)> {
    uri.query()
        .unwrap_or_default()
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_string(), percent_decode(v)))
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn handle(
    state: &Mutex<State>,
    realm: &str,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut state = state.lock().unwrap();
    let path = uri.path().to_string();
    state.requests.push(match uri.query() {
        Some(q) => format!("{method} {path}?{q}"),
        None => format!("{method} {path}"),
    });
    if path == "/token" {
        return token(&mut state, &method, &uri, &headers, &body);
    }
    let Some(rest) = path.strip_prefix("/v2/") else {
        return error(StatusCode::NOT_FOUND, "NOT_FOUND");
    };
    if let Some(denied) = check_token(&state, realm, rest, &method, &headers) {
        return denied;
    }
    if rest.is_empty() {
        return answer(StatusCode::OK).body(Body::empty()).unwrap();
    }
    route(&mut state, &method, rest, &uri, &headers, body)
}

fn check_token(
    state: &State,
    realm: &str,
    rest: &str,
    method: &Method,
    headers: &HeaderMap,
) -> Option<Response> {
    state.behaviour.bearer.as_ref()?;
    let presented = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if presented.is_some_and(|t| state.tokens.contains(t)) {
        return None;
    }
    let repository = ["/manifests/", "/blobs/", "/referrers/", "/tags/"]
        .iter()
        .find_map(|marker| rest.split_once(marker).map(|(name, _)| name))
        .unwrap_or_default();
    let actions = if method == Method::GET || method == Method::HEAD {
        "pull"
    } else {
        "pull,push"
    };
    Some(
        answer(StatusCode::UNAUTHORIZED)
            .header(
                "WWW-Authenticate",
                format!(
                    r#"Bearer realm="{realm}",service="fake",scope="repository:{repository}:{actions}""#
                ),
            )
            .body(Body::from(r#"{"errors":[{"code":"UNAUTHORIZED","message":"token"}]}"#))
            .unwrap(),
    )
}

fn token(
    state: &mut State,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    let Some((user, password, identity)) = state.behaviour.bearer.clone() else {
        return error(StatusCode::NOT_FOUND, "NOT_FOUND");
    };
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let allowed = if method == Method::POST {
        let form = String::from_utf8_lossy(body).to_string();
        form.split('&')
            .any(|pair| pair == format!("refresh_token={identity}"))
            && form.contains("grant_type=refresh_token")
    } else {
        headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v == format!("Basic {basic}"))
    };
    let has_scope = query(uri).iter().any(|(k, _)| k == "scope")
        || String::from_utf8_lossy(body).contains("scope=");
    if !allowed || !has_scope {
        return error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    }
    state.next_id += 1;
    let token = format!("token-{}", state.next_id);
    state.tokens.insert(token.clone());
    let key = if method == Method::POST {
        "access_token"
    } else {
        "token"
    };
    answer(StatusCode::OK)
        .header("Content-Type", "application/json")
        .body(Body::from(format!(r#"{{"{key}":"{token}"}}"#)))
        .unwrap()
}

fn route(
    state: &mut State,
    method: &Method,
    rest: &str,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    if let Some((name, reference)) = rest.split_once("/manifests/") {
        let content_type = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        return manifests(state, method, name, reference, &content_type, body);
    }
    if let Some((name, digest)) = rest.split_once("/referrers/") {
        return referrers(state, name, digest, uri);
    }
    if let Some(name) = rest.strip_suffix("/tags/list") {
        let tags: Vec<String> = state
            .tags
            .keys()
            .filter(|(repo, _)| repo == name)
            .map(|(_, tag)| tag.clone())
            .collect();
        return answer(StatusCode::OK)
            .header("Content-Type", "application/json")
            .body(Body::from(
                serde_json::json!({ "name": name, "tags": tags }).to_string(),
            ))
            .unwrap();
    }
    if let Some((name, upload)) = rest.split_once("/blobs/uploads/") {
        return uploads(state, method, name, upload, uri, body);
    }
    if let Some((name, digest)) = rest.split_once("/blobs/") {
        return blobs(state, method, name, digest, headers);
    }
    error(StatusCode::NOT_FOUND, "NOT_FOUND")
}

fn manifests(
    state: &mut State,
    method: &Method,
    name: &str,
    reference: &str,
    content_type: &str,
    body: Bytes,
) -> Response {
    if method == Method::PUT {
        let digest = sha256(&body);
        let value: serde_json::Value = match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(_) => return error(StatusCode::BAD_REQUEST, "MANIFEST_INVALID"),
        };
        let media_type = content_type.to_string();
        state
            .manifests
            .insert((name.to_string(), digest.clone()), (media_type, body));
        if !reference.starts_with("sha256:") {
            state
                .tags
                .insert((name.to_string(), reference.to_string()), digest.clone());
        } else if reference != digest {
            return error(StatusCode::BAD_REQUEST, "DIGEST_INVALID");
        }
        let mut response = answer(StatusCode::CREATED)
            .header("Docker-Content-Digest", &digest)
            .header("Location", format!("/v2/{name}/manifests/{digest}"));
        if state.behaviour.referrers_api
            && let Some(subject) = value["subject"]["digest"].as_str()
        {
            response = response.header("OCI-Subject", subject);
        }
        return response.body(Body::empty()).unwrap();
    }
    let digest = if reference.starts_with("sha256:") {
        reference.to_string()
    } else {
        match state.tags.get(&(name.to_string(), reference.to_string())) {
            Some(d) => d.clone(),
            None => return error(StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN"),
        }
    };
    let Some((media_type, bytes)) = state.manifests.get(&(name.to_string(), digest.clone())) else {
        return error(StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN");
    };
    let response = answer(StatusCode::OK)
        .header("Content-Type", media_type.as_str())
        .header("Docker-Content-Digest", &digest);
    if state.behaviour.endless_manifests {
        let chunk = Bytes::from(vec![b' '; 1 << 20]);
        let stream = futures_util::stream::iter(
            (0..20).map(move |_| Ok::<Bytes, std::io::Error>(chunk.clone())),
        );
        return response.body(Body::from_stream(stream)).unwrap();
    }
    let mut bytes = bytes.to_vec();
    if state.behaviour.tamper_manifests {
        bytes.push(b'\n');
    }
    if method == Method::HEAD {
        return response
            .header("Content-Length", bytes.len())
            .body(Body::empty())
            .unwrap();
    }
    response.body(Body::from(bytes)).unwrap()
}

fn referrers(state: &mut State, name: &str, subject: &str, uri: &Uri) -> Response {
    if !state.behaviour.referrers_api {
        return error(StatusCode::NOT_FOUND, "NOT_FOUND");
    }
    if let Some(status) = state.behaviour.referrers_status {
        return error(StatusCode::from_u16(status).unwrap(), "TOOMANYREQUESTS");
    }
    let params = query(uri);
    let artifact_type = params
        .iter()
        .find(|(k, _)| k == "artifactType")
        .map(|(_, v)| v.clone());
    let page: usize = params
        .iter()
        .find(|(k, _)| k == "page")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let filter = state.behaviour.filter_artifact_type && artifact_type.is_some();
    let mut entries = Vec::new();
    for ((repo, digest), (media_type, bytes)) in &state.manifests {
        if repo != name {
            continue;
        }
        let value: serde_json::Value = serde_json::from_slice(bytes).unwrap();
        let Some(their_subject) = value["subject"]["digest"].as_str() else {
            continue;
        };
        if their_subject != subject && !state.behaviour.list_every_referrer {
            continue;
        }
        let kind = value
            .get("artifactType")
            .or_else(|| value["config"].get("mediaType"))
            .cloned()
            .unwrap_or_default();
        if filter && kind.as_str() != artifact_type.as_deref() {
            continue;
        }
        let mut entry = serde_json::json!({
            "mediaType": media_type,
            "digest": digest,
            "size": bytes.len(),
            "artifactType": kind,
        });
        if let Some(annotations) = value.get("annotations") {
            entry["annotations"] = annotations.clone();
        }
        entries.push(entry);
    }
    let size = if state.behaviour.page_size == 0 {
        entries.len().max(1)
    } else {
        state.behaviour.page_size
    };
    let pages: Vec<&[serde_json::Value]> = entries.chunks(size).collect();
    let this_page = pages.get(page).map(|p| p.to_vec()).unwrap_or_default();
    let mut response =
        answer(StatusCode::OK).header("Content-Type", "application/vnd.oci.image.index.v1+json");
    if filter {
        response = response.header("OCI-Filters-Applied", "artifactType");
    }
    if page + 1 < pages.len() {
        let mut next = format!("/v2/{name}/referrers/{subject}?page={}", page + 1);
        if let Some(t) = &artifact_type {
            next.push_str(&format!(
                "&artifactType={}",
                t.replace('+', "%2B").replace('/', "%2F")
            ));
        }
        response = response.header("Link", format!("<{next}>; rel=\"next\""));
    }
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": this_page,
    });
    response.body(Body::from(index.to_string())).unwrap()
}

fn uploads(
    state: &mut State,
    method: &Method,
    name: &str,
    upload: &str,
    uri: &Uri,
    body: Bytes,
) -> Response {
    let params = query(uri);
    let param = |key: &str| {
        params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    if method == Method::POST {
        if let (Some(digest), Some(from)) = (param("mount"), param("from"))
            && state.holds.contains(&(from, digest.clone()))
        {
            state.holds.insert((name.to_string(), digest.clone()));
            return answer(StatusCode::CREATED)
                .header("Docker-Content-Digest", &digest)
                .header("Location", format!("/v2/{name}/blobs/{digest}"))
                .body(Body::empty())
                .unwrap();
        }
        state.next_id += 1;
        let id = format!("upload-{}", state.next_id);
        state.uploads.insert(id.clone(), Vec::new());
        return answer(StatusCode::ACCEPTED)
            .header("Location", format!("/v2/{name}/blobs/uploads/{id}"))
            .header("Range", "0-0")
            .body(Body::empty())
            .unwrap();
    }
    let Some(content) = state.uploads.get_mut(upload) else {
        return error(StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN");
    };
    content.extend_from_slice(&body);
    match *method {
        Method::PATCH => answer(StatusCode::ACCEPTED)
            .header("Location", format!("/v2/{name}/blobs/uploads/{upload}"))
            .body(Body::empty())
            .unwrap(),
        Method::PUT => {
            let content = state.uploads.remove(upload).unwrap_or_default();
            let digest = sha256(&content);
            if param("digest").as_deref() != Some(digest.as_str()) {
                return error(StatusCode::BAD_REQUEST, "DIGEST_INVALID");
            }
            state.blobs.insert(digest.clone(), Bytes::from(content));
            state.holds.insert((name.to_string(), digest.clone()));
            answer(StatusCode::CREATED)
                .header("Docker-Content-Digest", &digest)
                .header("Location", format!("/v2/{name}/blobs/{digest}"))
                .body(Body::empty())
                .unwrap()
        }
        Method::DELETE => {
            state.uploads.remove(upload);
            answer(StatusCode::NO_CONTENT).body(Body::empty()).unwrap()
        }
        _ => error(StatusCode::METHOD_NOT_ALLOWED, "UNSUPPORTED"),
    }
}

fn blobs(
    state: &mut State,
    method: &Method,
    name: &str,
    digest: &str,
    headers: &HeaderMap,
) -> Response {
    let held = state
        .holds
        .contains(&(name.to_string(), digest.to_string()));
    let Some(content) = state.blobs.get(digest).filter(|_| held).cloned() else {
        return error(StatusCode::NOT_FOUND, "BLOB_UNKNOWN");
    };
    if let Some(base) = &state.behaviour.redirect_blobs_to {
        return answer(StatusCode::TEMPORARY_REDIRECT)
            .header("Location", format!("{base}/v2/{name}/blobs/{digest}"))
            .body(Body::empty())
            .unwrap();
    }
    if method == Method::HEAD {
        return answer(StatusCode::OK)
            .header("Content-Length", content.len())
            .header("Docker-Content-Digest", digest)
            .body(Body::empty())
            .unwrap();
    }
    if state.failed_downloads < state.behaviour.failing_downloads {
        state.failed_downloads += 1;
        return error(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE");
    }
    let mut content = content.to_vec();
    if state.behaviour.long_blobs {
        content.extend_from_slice(b"and then some");
    }
    let start: usize = headers
        .get("range")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("bytes="))
        .and_then(|v| v.strip_suffix('-'))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let total = content.len();
    let rest = Bytes::from(content.split_off(start.min(total)));
    let mut response = if start > 0 {
        answer(StatusCode::PARTIAL_CONTENT).header(
            "Content-Range",
            format!("bytes {start}-{}/{total}", total.saturating_sub(1)),
        )
    } else {
        answer(StatusCode::OK)
    };
    response = response
        .header("Content-Length", rest.len())
        .header("Docker-Content-Digest", digest);
    if let Some(cut) = state.behaviour.cut_downloads_after
        && start == 0
        && state.cut.insert(digest.to_string())
        && cut < rest.len()
    {
        let head = rest.slice(..cut);
        let stream = futures_util::stream::iter(vec![Ok(head), Err(std::io::Error::other("cut"))]);
        return response.body(Body::from_stream(stream)).unwrap();
    }
    response.body(Body::from(rest)).unwrap()
}

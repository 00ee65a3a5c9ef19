//! Blob uploads. A small blob goes up in one PUT; a blob whose digest and size are known (a
//! copy) streams in one PUT; any other streams in one PATCH, hashed on the way, and is closed
//! with the digest it turned out to have. Blobs the registry holds are not sent again, and a
//! blob in another repository of the same registry is mounted instead of sent.

use std::io::{self, Read};

use bytes::Bytes;
use futures_util::StreamExt;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use reqwest::{Method, Response, StatusCode};

use super::RegistryStore;
use crate::oci::digest::{Algorithm, Digest, Hasher};
use crate::oci::{Store, StoreError};

/// The unit in which content is read and sent; a blob no larger goes up in one request.
const CHUNK: usize = 1 << 20;
const OCTET_STREAM: &str = "application/octet-stream";

impl RegistryStore {
    /// Uploads what `reader` yields, held to `expected` when given.
    pub(super) fn upload_unknown_size(
        &self,
        reader: &mut dyn Read,
        expected: Option<&Digest>,
    ) -> Result<(Digest, u64), StoreError> {
        if let Some(digest) = expected
            && self.has_blob(digest)?
        {
            // Already there: the content is still read, to hold it to the digest it claims.
            let (actual, size) = hash_all(reader, digest.algorithm())
                .map_err(|e| StoreError::io("blob upload", e))?;
            check_expected(Some(digest), &actual)?;
            return Ok((actual, size));
        }
        // Content held to a digest is hashed as that digest is; other content as SHA-256.
        let algorithm = expected.map_or(Algorithm::Sha256, Digest::algorithm);
        let mut first = vec![0u8; CHUNK];
        let n = read_some(reader, &mut first).map_err(|e| StoreError::io("blob upload", e))?;
        first.truncate(n);
        if n < CHUNK {
            // All of it is in hand.
            let mut hasher = Hasher::new(algorithm);
            hasher.update(&first);
            let digest = hasher.finish();
            check_expected(expected, &digest)?;
            if expected.is_none() && self.has_blob(&digest)? {
                return Ok((digest, n as u64));
            }
            let location = self.start_upload()?;
            let request = self
                .client
                .request(Method::PUT, &with_digest(&location, &digest))?
                .header(CONTENT_TYPE, OCTET_STREAM)
                .body(first);
            self.finish(self.client.send_once(request), &location, &digest)?;
            return Ok((digest, n as u64));
        }
        let location = self.start_upload()?;
        let Streamed {
            answer,
            digest,
            size,
        } = self.stream(reader, first, Some(algorithm), |body| {
            Ok(self
                .client
                .request(Method::PATCH, &location)?
                .header(CONTENT_TYPE, OCTET_STREAM)
                .body(body))
        })?;
        let Some(digest) = digest else {
            return Err(StoreError::Unsupported("an upload was not hashed".into()));
        };
        let answer = answer.inspect_err(|_| self.cancel(&location))?;
        if answer.status() != StatusCode::ACCEPTED {
            self.cancel(&location);
            return Err(self.client.fail("uploading a blob", answer));
        }
        let location = upload_location(&answer).unwrap_or(location);
        if let Err(e) = check_expected(expected, &digest) {
            self.cancel(&location);
            return Err(e);
        }
        let request = self
            .client
            .request(Method::PUT, &with_digest(&location, &digest))?
            .header(CONTENT_LENGTH, 0);
        self.finish(self.client.send_once(request), &location, &digest)?;
        Ok((digest, size))
    }

    /// Uploads a blob whose digest and size are known, in one streamed PUT.
    pub(super) fn upload_known_size(
        &self,
        reader: &mut dyn Read,
        digest: &Digest,
        size: u64,
    ) -> Result<(Digest, u64), StoreError> {
        if size <= CHUNK as u64 {
            let stored = self.upload_unknown_size(reader, Some(digest))?;
            return check_size(stored, digest, size);
        }
        let location = self.start_upload()?;
        // Not hashed here: the registry checks the content against the digest the upload is
        // closed with and refuses anything else (and a copy's source reader checks it too).
        // Hashing twice would cost a core's worth of time on the hot path.
        let Streamed {
            answer, size: sent, ..
        } = self.stream(reader, Vec::new(), None, |body| {
            Ok(self
                .client
                .request(Method::PUT, &with_digest(&location, digest))?
                .header(CONTENT_TYPE, OCTET_STREAM)
                .header(CONTENT_LENGTH, size)
                .body(body))
        })?;
        // What was read decides first: a source that lied explains the registry's refusal.
        check_size((digest.clone(), sent), digest, size)?;
        self.finish(answer, &location, digest)?;
        Ok((digest.clone(), sent))
    }

    /// Mounts `digest` from `from`, another repository of this registry. `false` when the
    /// registry declines (it opens an upload instead, which is cancelled).
    pub(super) fn mount(&self, digest: &Digest, from: &str) -> Result<bool, StoreError> {
        let path = format!("{}/", self.client.path("blobs", "uploads"));
        let response = self.client.send(
            Method::POST,
            &path,
            |r| {
                r.query(&[("mount", digest.to_string().as_str()), ("from", from)])
                    .header(CONTENT_LENGTH, 0)
            },
            true,
        )?;
        match response.status() {
            StatusCode::CREATED => Ok(true),
            StatusCode::ACCEPTED => {
                if let Some(location) = upload_location(&response) {
                    self.cancel(&location);
                }
                Ok(false)
            }
            _ => Err(self
                .client
                .fail(&format!("mounting blob {digest}"), response)),
        }
    }

    /// Opens an upload session; returns where to send the content.
    fn start_upload(&self) -> Result<String, StoreError> {
        let path = format!("{}/", self.client.path("blobs", "uploads"));
        // Opening a session twice is harmless: an abandoned one expires.
        let response =
            self.client
                .send(Method::POST, &path, |r| r.header(CONTENT_LENGTH, 0), true)?;
        if response.status() != StatusCode::ACCEPTED {
            return Err(self.client.fail("starting a blob upload", response));
        }
        upload_location(&response).ok_or_else(|| StoreError::Remote {
            location: self.location(),
            message: "the registry opened an upload without saying where (no Location header)"
                .into(),
        })
    }

    /// Checks the answer that closes an upload; cancels the session when it failed.
    fn finish(
        &self,
        answer: Result<Response, StoreError>,
        location: &str,
        digest: &Digest,
    ) -> Result<(), StoreError> {
        let answer = answer.inspect_err(|_| self.cancel(location))?;
        if answer.status() != StatusCode::CREATED {
            self.cancel(location);
            return Err(self
                .client
                .fail(&format!("uploading blob {digest}"), answer));
        }
        if let Some(claimed) = answer
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            && claimed != digest.to_string()
        {
            return Err(StoreError::Remote {
                location: self.location(),
                message: format!("the registry stored blob {digest} as {claimed}"),
            });
        }
        Ok(())
    }

    /// Abandons an upload session, best effort: the registry expires it anyway.
    fn cancel(&self, location: &str) {
        if let Ok(request) = self.client.request(Method::DELETE, location) {
            let _ = self.client.send_once(request);
        }
    }

    /// Sends `first` and the rest of `reader` as the streamed body of the request `build`
    /// makes. The reader stays on this thread and feeds the request, which runs on another,
    /// through a bounded channel. Returns the answer and the size of what was read, and its
    /// digest when `hash` names an algorithm.
    fn stream(
        &self,
        reader: &mut dyn Read,
        first: Vec<u8>,
        hash: Option<Algorithm>,
        build: impl FnOnce(reqwest::Body) -> Result<reqwest::RequestBuilder, StoreError> + Send,
    ) -> Result<Streamed, StoreError> {
        let (sender, receiver) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(4);
        let chunks = futures_util::stream::unfold(receiver, |mut receiver| async move {
            receiver.recv().await.map(|item| (item, receiver))
        })
        .boxed();
        let body = reqwest::Body::wrap_stream(chunks);
        let (answer, read) = std::thread::scope(|scope| {
            let request = scope.spawn(move || self.client.send_once(build(body)?));
            let hasher = hash.map(Hasher::new);
            let read = feed(reader, first, hasher, &sender);
            drop(sender);
            (request.join(), read)
        });
        let answer =
            answer.map_err(|_| StoreError::Unsupported("the upload thread panicked".into()))?;
        match read.map_err(|e| StoreError::io("blob upload", e))? {
            Some((digest, size)) => Ok(Streamed {
                answer,
                digest,
                size,
            }),
            // The request ended before the content did: its answer says why.
            None => Err(match answer {
                Err(e) => e,
                Ok(response) => self
                    .client
                    .fail("uploading a blob (the registry stopped reading)", response),
            }),
        }
    }
}

/// A streamed request's answer, and what was sent: its size, and its digest when hashed.
struct Streamed {
    answer: Result<Response, StoreError>,
    digest: Option<Digest>,
    size: u64,
}

/// Where an upload goes on: the `Location` of the registry's answer.
fn upload_location(response: &Response) -> Option<String> {
    response
        .headers()
        .get(LOCATION)?
        .to_str()
        .ok()
        .map(str::to_string)
}

/// An upload location with the `digest` that closes it added to its query.
fn with_digest(location: &str, digest: &Digest) -> String {
    let separator = if location.contains('?') { '&' } else { '?' };
    // A digest is `algorithm:hex`; `:` needs no escaping in a query.
    format!("{location}{separator}digest={digest}")
}

fn check_expected(expected: Option<&Digest>, actual: &Digest) -> Result<(), StoreError> {
    match expected {
        Some(expected) if expected != actual => Err(StoreError::DigestMismatch {
            what: "uploaded blob".into(),
            expected: expected.clone(),
            actual: actual.to_string(),
        }),
        _ => Ok(()),
    }
}

fn check_size(
    stored: (Digest, u64),
    digest: &Digest,
    size: u64,
) -> Result<(Digest, u64), StoreError> {
    if stored.1 != size {
        return Err(StoreError::SizeMismatch {
            what: format!("blob {digest}"),
            expected: size,
            actual: stored.1,
        });
    }
    Ok(stored)
}

/// Reads until the buffer is full or the input ends.
fn read_some(reader: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while let Some(rest) = buf.get_mut(filled..) {
        if rest.is_empty() {
            break;
        }
        match reader.read(rest) {
            Ok(0) => break,
            Ok(n) => filled = filled.saturating_add(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Reads `reader` to its end, hashing it.
fn hash_all(reader: &mut dyn Read, algorithm: Algorithm) -> io::Result<(Digest, u64)> {
    let mut hasher = Hasher::new(algorithm);
    let mut size: u64 = 0;
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = read_some(reader, &mut buf)?;
        if n == 0 {
            return Ok((hasher.finish(), size));
        }
        hasher.update(buf.get(..n).unwrap_or_default());
        size = size.saturating_add(n as u64);
    }
}

/// Sends `first` and the rest of `reader` to the request, with `hasher` hashing what is sent:
/// the digest (with a hasher) and size of all of it, or `None` when the request stopped taking
/// it. A read error is sent too, so the request fails instead of ending as if the content were
/// complete.
fn feed(
    reader: &mut dyn Read,
    first: Vec<u8>,
    mut hasher: Option<Hasher>,
    sender: &tokio::sync::mpsc::Sender<io::Result<Bytes>>,
) -> io::Result<Option<(Option<Digest>, u64)>> {
    let mut size: u64 = 0;
    let mut chunk = first;
    loop {
        if chunk.is_empty() {
            let mut next = vec![0u8; CHUNK];
            let n = match read_some(reader, &mut next) {
                Ok(n) => n,
                Err(e) => {
                    let _ = sender.blocking_send(Err(io::Error::new(e.kind(), e.to_string())));
                    return Err(e);
                }
            };
            if n == 0 {
                return Ok(Some((hasher.map(Hasher::finish), size)));
            }
            next.truncate(n);
            chunk = next;
        }
        if let Some(hasher) = &mut hasher {
            hasher.update(&chunk);
        }
        size = size.saturating_add(chunk.len() as u64);
        if sender
            .blocking_send(Ok(Bytes::from(std::mem::take(&mut chunk))))
            .is_err()
        {
            return Ok(None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closing_an_upload_adds_the_digest_to_its_query() {
        let digest = Digest::sha256_of(b"x");
        assert_eq!(
            with_digest("/v2/a/blobs/uploads/1", &digest),
            format!("/v2/a/blobs/uploads/1?digest={digest}")
        );
        assert_eq!(
            with_digest("/v2/a/blobs/uploads/1?_state=abc", &digest),
            format!("/v2/a/blobs/uploads/1?_state=abc&digest={digest}")
        );
    }
}

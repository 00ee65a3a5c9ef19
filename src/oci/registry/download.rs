//! Blob downloads that resume: when the connection drops partway, the rest is asked for with a
//! `Range` request and the stream goes on, hashed as one whole by the verifying reader.

use std::io::{self, Read};
use std::sync::Arc;

use bytes::Bytes;
use reqwest::header::{CONTENT_RANGE, RANGE};
use reqwest::{Method, Response, StatusCode};

use super::client::Client;
use crate::oci::manifest::Descriptor;
use crate::oci::{StoreError, VerifiedReader};

/// How often one download picks up again after its connection dropped.
const MAX_RESUMES: u32 = 5;
const RESUME_PAUSE: std::time::Duration = std::time::Duration::from_millis(200);

/// A reader of the blob `descriptor` names that fails unless the content matches it.
pub(super) fn open(
    client: Arc<Client>,
    descriptor: &Descriptor,
) -> Result<Box<dyn Read + Send>, StoreError> {
    let what = format!("blob {}", descriptor.digest);
    let path = client.path("blobs", &descriptor.digest.to_string());
    let (response, skip) = request(&client, &path, 0, descriptor.size, &what)?;
    let body = ResumingBody {
        client,
        path,
        what: what.clone(),
        response,
        chunk: Bytes::new(),
        skip,
        received: 0,
        size: descriptor.size,
        resumes: 0,
    };
    Ok(Box::new(VerifiedReader::new(
        body,
        what,
        descriptor.digest.clone(),
        descriptor.size,
    )))
}

/// Asks for the blob from `offset` on. Returns the answer and how many of its first bytes
/// to drop (a registry may ignore `Range` and send everything again).
fn request(
    client: &Client,
    path: &str,
    offset: u64,
    size: u64,
    what: &str,
) -> Result<(Response, u64), StoreError> {
    let response = client.send(
        Method::GET,
        path,
        |r| {
            if offset > 0 {
                r.header(RANGE, format!("bytes={offset}-"))
            } else {
                r
            }
        },
        true,
    )?;
    let skip = match response.status() {
        StatusCode::OK => offset,
        StatusCode::PARTIAL_CONTENT if offset > 0 && range_start(&response) == Some(offset) => 0,
        StatusCode::NOT_FOUND => {
            return Err(StoreError::NotFound {
                what: what.to_string(),
                location: client.location(),
            });
        }
        _ => return Err(client.fail(what, response)),
    };
    // Refuse a blob longer than its descriptor before reading it.
    let remaining = size.saturating_sub(offset).saturating_add(skip);
    if let Some(length) = response.content_length()
        && length > remaining
    {
        return Err(StoreError::SizeMismatch {
            what: what.to_string(),
            expected: size,
            actual: length.saturating_add(offset).saturating_sub(skip),
        });
    }
    Ok((response, skip))
}

/// The first byte a `Content-Range: bytes FIRST-LAST/SIZE` answer holds.
fn range_start(response: &Response) -> Option<u64> {
    let value = response.headers().get(CONTENT_RANGE)?.to_str().ok()?;
    let range = value.trim().strip_prefix("bytes ")?;
    range.split_once('-')?.0.trim().parse().ok()
}

struct ResumingBody {
    client: Arc<Client>,
    path: String,
    what: String,
    response: Response,
    chunk: Bytes,
    /// Bytes still to drop from the answer (a resumed answer that started over).
    skip: u64,
    /// Bytes of the blob received so far, the chunk in hand included.
    received: u64,
    size: u64,
    resumes: u32,
}

impl ResumingBody {
    /// The next chunk of the answer, or `None` at its end.
    fn next_chunk(&mut self) -> Result<Option<Bytes>, StoreError> {
        self.client.next_chunk(&mut self.response)
    }

    fn resume(&mut self, cause: io::Error) -> io::Result<()> {
        if self.resumes >= MAX_RESUMES {
            return Err(cause);
        }
        self.resumes = self.resumes.saturating_add(1);
        std::thread::sleep(RESUME_PAUSE);
        let (response, skip) = request(
            &self.client,
            &self.path,
            self.received,
            self.size,
            &self.what,
        )
        .map_err(io::Error::other)?;
        self.response = response;
        self.skip = skip;
        Ok(())
    }
}

impl Read for ResumingBody {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.chunk.is_empty() {
            match self.next_chunk() {
                Ok(Some(mut chunk)) => {
                    let dropped = usize::try_from(self.skip)
                        .unwrap_or(usize::MAX)
                        .min(chunk.len());
                    self.skip = self.skip.saturating_sub(dropped as u64);
                    let _ = chunk.split_to(dropped);
                    self.received = self.received.saturating_add(chunk.len() as u64);
                    self.chunk = chunk;
                }
                // A clean end before the whole blob: the connection was cut between chunks.
                Ok(None) if self.received < self.size => {
                    let cause = io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("{} ended after {} bytes", self.what, self.received),
                    );
                    self.resume(cause)?;
                }
                Ok(None) => return Ok(0),
                Err(e) => self.resume(io::Error::other(e))?,
            }
        }
        let n = buf.len().min(self.chunk.len());
        let head = self.chunk.split_to(n);
        if let Some(target) = buf.get_mut(..n) {
            target.copy_from_slice(&head);
        }
        Ok(n)
    }
}

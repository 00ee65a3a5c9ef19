//! A reader that checks content against its descriptor while it streams.

use std::io::{self, Read};

use super::digest::{Digest, Hasher};
use super::store::StoreError;

/// Yields the bytes of a blob and fails, instead of returning the last chunk, when the content
/// does not hash to the expected digest or is not exactly the expected size. A caller that reads
/// to the end has read verified bytes; one that stops early has verified nothing.
pub struct VerifiedReader<R> {
    inner: R,
    what: String,
    expected: Digest,
    expected_size: u64,
    hasher: Option<Hasher>,
    seen: u64,
    /// Set by the first failure, which every later read repeats: a failed reader never
    /// turns into a clean end of file.
    failure: Option<StoreError>,
}

impl<R: Read> VerifiedReader<R> {
    pub fn new(inner: R, what: impl Into<String>, expected: Digest, expected_size: u64) -> Self {
        let hasher = Some(Hasher::new(expected.algorithm()));
        VerifiedReader {
            inner,
            what: what.into(),
            expected,
            expected_size,
            hasher,
            seen: 0,
            failure: None,
        }
    }

    fn size_mismatch(&self, actual: u64) -> StoreError {
        StoreError::SizeMismatch {
            what: self.what.clone(),
            expected: self.expected_size,
            actual,
        }
    }
}

fn repeat(error: &StoreError) -> io::Error {
    let copy = error
        .content_copy()
        .unwrap_or_else(|| StoreError::Unsupported(error.to_string()));
    io::Error::new(io::ErrorKind::InvalidData, copy)
}

impl<R: Read> Read for VerifiedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(failure) = &self.failure {
            return Err(repeat(failure));
        }
        if buf.is_empty() {
            return Ok(0);
        }
        match self.read_checked(buf) {
            Ok(n) => Ok(n),
            Err(ReadFailure::Content(error)) => {
                let reported = repeat(&error);
                self.failure = Some(error);
                Err(reported)
            }
            Err(ReadFailure::Io(error)) => Err(error),
        }
    }
}

enum ReadFailure {
    /// The content is wrong: permanent.
    Content(StoreError),
    /// Reading failed: the caller may retry.
    Io(io::Error),
}

impl From<io::Error> for ReadFailure {
    fn from(error: io::Error) -> Self {
        ReadFailure::Io(error)
    }
}

impl<R: Read> VerifiedReader<R> {
    fn read_checked(&mut self, buf: &mut [u8]) -> Result<usize, ReadFailure> {
        let Some(hasher) = self.hasher.as_mut() else {
            // Verified already: anything more than the declared size is an error.
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(ReadFailure::Content(
                    self.size_mismatch(self.expected_size.saturating_add(1)),
                )),
            };
        };
        // `seen` never passes `expected_size`: reading past it is an error below.
        let remaining = self.expected_size.saturating_sub(self.seen);
        // Read one byte past the declared size at most, to notice content that is too long.
        let want = usize::try_from(remaining.saturating_add(1))
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let Some(window) = buf.get_mut(..want) else {
            return Ok(0);
        };
        let n = self.inner.read(window)?;
        if n == 0 && remaining > 0 {
            return Err(ReadFailure::Content(self.size_mismatch(self.seen)));
        }
        let n64 = n as u64;
        if n64 > remaining {
            return Err(ReadFailure::Content(
                self.size_mismatch(self.seen.saturating_add(n64)),
            ));
        }
        hasher.update(window.get(..n).unwrap_or_default());
        self.seen = self.seen.saturating_add(n64);
        if self.seen == self.expected_size {
            self.check_digest().map_err(ReadFailure::Content)?;
        }
        Ok(n)
    }

    /// Called once the declared size has been read, before the last chunk is handed out.
    fn check_digest(&mut self) -> Result<(), StoreError> {
        let actual = self.hasher.take().map(Hasher::finish);
        if actual.as_ref() == Some(&self.expected) {
            return Ok(());
        }
        Err(StoreError::DigestMismatch {
            what: self.what.clone(),
            expected: self.expected.clone(),
            actual: actual.map(|d| d.to_string()).unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(data: &[u8], digest: &Digest, size: u64) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        VerifiedReader::new(data, "blob", digest.clone(), size).read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn accepts_matching_content() {
        let d = Digest::sha256_of(b"hello");
        assert_eq!(read_all(b"hello", &d, 5).unwrap(), b"hello");
        let empty = Digest::sha256_of(b"");
        assert_eq!(read_all(b"", &empty, 0).unwrap(), b"");
    }

    #[test]
    fn a_failed_reader_keeps_failing() {
        let d = Digest::sha256_of(b"hello");
        let mut reader = VerifiedReader::new(&b"hellO"[..], "blob", d, 5);
        let mut buf = [0u8; 16];
        assert!(reader.read(&mut buf).is_err());
        assert!(
            reader.read(&mut buf).is_err(),
            "no clean end of file after a failure"
        );
        assert_eq!(reader.read(&mut []).unwrap_or(1), 1, "still failing");
    }

    #[test]
    fn rejects_other_content_size_and_truncation() {
        let d = Digest::sha256_of(b"hello");
        let err = read_all(b"hellO", &d, 5).unwrap_err();
        assert!(
            err.to_string().contains("does not match its digest"),
            "{err}"
        );
        let err = read_all(b"hello!", &d, 5).unwrap_err();
        assert!(err.to_string().contains("bytes"), "{err}");
        let err = read_all(b"hell", &d, 5).unwrap_err();
        assert!(err.to_string().contains("should be 5 bytes"), "{err}");
        let empty = Digest::sha256_of(b"");
        assert!(read_all(b"x", &empty, 0).is_err());
    }
}

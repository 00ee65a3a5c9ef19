//! GGUF header sanity: the magic and a known version, counts within bounds, metadata that
//! parses with bounded strings and arrays, and tensor descriptions whose offsets lie inside the
//! file. Reads only the header.

use std::io::{self, Read};

const MAGIC: &[u8; 4] = b"GGUF";
const MAX_TENSORS: u64 = 1 << 20;
const MAX_KEYS: u64 = 1 << 20;
const MAX_STRING: u64 = 16 << 20;
const MAX_ARRAY: u64 = 1 << 28;
/// The most header bytes read in all.
const MAX_HEADER: u64 = 1 << 30;
/// ggml tensors have at most four dimensions.
const MAX_DIMS: u32 = 4;
/// The longest metadata key read.
const MAX_KEY: u64 = 64 << 10;
/// The data section's alignment unless `general.alignment` says otherwise.
const DEFAULT_ALIGNMENT: u64 = 32;

struct Header<R> {
    reader: R,
    read: u64,
    version: u32,
}

enum Problem {
    Io(io::Error),
    Bad(String),
}

impl From<io::Error> for Problem {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            Problem::Bad("the header is truncated".into())
        } else {
            Problem::Io(e)
        }
    }
}

impl<R: Read> Header<R> {
    fn bytes<const N: usize>(&mut self) -> Result<[u8; N], Problem> {
        let mut b = [0u8; N];
        self.reader.read_exact(&mut b)?;
        self.read = self.read.saturating_add(N as u64);
        if self.read > MAX_HEADER {
            return Err(Problem::Bad(format!(
                "the header runs past {MAX_HEADER} bytes"
            )));
        }
        Ok(b)
    }

    fn u32(&mut self) -> Result<u32, Problem> {
        Ok(u32::from_le_bytes(self.bytes::<4>()?))
    }

    fn u64(&mut self) -> Result<u64, Problem> {
        Ok(u64::from_le_bytes(self.bytes::<8>()?))
    }

    /// A count: 32 bits in version 1, 64 since.
    fn count(&mut self) -> Result<u64, Problem> {
        if self.version == 1 {
            Ok(u64::from(self.u32()?))
        } else {
            self.u64()
        }
    }

    fn skip(&mut self, n: u64) -> Result<(), Problem> {
        let skipped = io::copy(&mut (&mut self.reader).take(n), &mut io::sink())?;
        self.read = self.read.saturating_add(skipped);
        if skipped < n {
            return Err(Problem::Bad("the header is truncated".into()));
        }
        if self.read > MAX_HEADER {
            return Err(Problem::Bad(format!(
                "the header runs past {MAX_HEADER} bytes"
            )));
        }
        Ok(())
    }

    fn string(&mut self) -> Result<(), Problem> {
        let len = self.count()?;
        if len > MAX_STRING {
            return Err(Problem::Bad(format!("a string claims {len} bytes")));
        }
        self.skip(len)
    }

    /// A metadata key, read (keys are short).
    fn key(&mut self) -> Result<String, Problem> {
        let len = self.count()?;
        if len > MAX_KEY {
            return Err(Problem::Bad(format!("a metadata key claims {len} bytes")));
        }
        let mut key = vec![0u8; usize::try_from(len).unwrap_or(0)];
        self.reader.read_exact(&mut key)?;
        self.read = self.read.saturating_add(len);
        Ok(String::from_utf8_lossy(&key).into_owned())
    }

    fn value(&mut self, kind: u32, depth: u8) -> Result<(), Problem> {
        let width = match kind {
            0 | 1 | 7 => 1,
            2 | 3 => 2,
            4..=6 => 4,
            10..=12 => 8,
            8 => return self.string(),
            9 if depth == 0 => {
                let element = self.u32()?;
                let count = self.count()?;
                if count > MAX_ARRAY {
                    return Err(Problem::Bad(format!("an array claims {count} elements")));
                }
                for _ in 0..count {
                    self.value(element, 1)?;
                }
                return Ok(());
            }
            9 => return Err(Problem::Bad("an array nests another array".into())),
            other => return Err(Problem::Bad(format!("unknown metadata type {other}"))),
        };
        self.skip(width)
    }
}

/// Reads a GGUF header from a file of `size` bytes; returns what is wrong with it.
pub fn check(reader: impl Read, size: u64) -> io::Result<Vec<String>> {
    let mut header = Header {
        reader,
        read: 0,
        version: 0,
    };
    match walk(&mut header, size) {
        Ok(()) => Ok(Vec::new()),
        Err(Problem::Bad(reason)) => Ok(vec![reason]),
        Err(Problem::Io(e)) => Err(e),
    }
}

fn walk<R: Read>(header: &mut Header<R>, size: u64) -> Result<(), Problem> {
    if &header.bytes::<4>()? != MAGIC {
        return Err(Problem::Bad("the file does not start with GGUF".into()));
    }
    header.version = header.u32()?;
    if !(1..=3).contains(&header.version) {
        return Err(Problem::Bad(format!(
            "unknown GGUF version {}",
            header.version
        )));
    }
    let tensors = header.count()?;
    let keys = header.count()?;
    if tensors > MAX_TENSORS || keys > MAX_KEYS {
        return Err(Problem::Bad(format!(
            "the header claims {tensors} tensors and {keys} metadata keys"
        )));
    }
    let mut alignment = DEFAULT_ALIGNMENT;
    for _ in 0..keys {
        let key = header.key()?;
        let kind = header.u32()?;
        if key == "general.alignment" && kind == 4 {
            alignment = u64::from(header.u32()?);
            if alignment == 0 || !alignment.is_power_of_two() {
                return Err(Problem::Bad(format!("general.alignment is {alignment}")));
            }
        } else {
            header.value(kind, 0)?;
        }
    }
    let mut offsets = Vec::new();
    for _ in 0..tensors {
        header.string()?;
        let dims = header.u32()?;
        if dims == 0 || dims > MAX_DIMS {
            return Err(Problem::Bad(format!("a tensor has {dims} dimensions")));
        }
        let mut elements: u64 = 1;
        for _ in 0..dims {
            elements = elements
                .checked_mul(header.u64()?)
                .ok_or_else(|| Problem::Bad("a tensor's shape overflows 64 bits".into()))?;
        }
        let kind = header.u32()?;
        if kind >= 64 {
            return Err(Problem::Bad(format!("a tensor has unknown type {kind}")));
        }
        let offset = header.u64()?;
        if offset.checked_rem(alignment) != Some(0) {
            return Err(Problem::Bad(format!(
                "a tensor's data offset {offset} is not aligned to {alignment}"
            )));
        }
        offsets.push((offset, elements));
    }
    // Offsets count from the data section, which starts at the next alignment boundary.
    let data_start = header.read.div_ceil(alignment).saturating_mul(alignment);
    for (offset, elements) in offsets {
        let start = data_start.saturating_add(offset);
        if elements > 0 && start >= size {
            return Err(Problem::Bad(format!(
                "a tensor's data starts at byte {start}, past the end of the file ({size} bytes)"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gguf(tensors: u64, keys: &[(&str, u32, Vec<u8>)], tensor_offset: u64) -> Vec<u8> {
        let mut b = MAGIC.to_vec();
        b.extend_from_slice(&3u32.to_le_bytes());
        b.extend_from_slice(&tensors.to_le_bytes());
        b.extend_from_slice(&(keys.len() as u64).to_le_bytes());
        for (key, kind, value) in keys {
            b.extend_from_slice(&(key.len() as u64).to_le_bytes());
            b.extend_from_slice(key.as_bytes());
            b.extend_from_slice(&kind.to_le_bytes());
            b.extend_from_slice(value);
        }
        for _ in 0..tensors {
            b.extend_from_slice(&1u64.to_le_bytes());
            b.push(b'w');
            b.extend_from_slice(&2u32.to_le_bytes());
            b.extend_from_slice(&4u64.to_le_bytes());
            b.extend_from_slice(&4u64.to_le_bytes());
            b.extend_from_slice(&0u32.to_le_bytes());
            b.extend_from_slice(&tensor_offset.to_le_bytes());
        }
        b.extend(std::iter::repeat_n(0u8, 64));
        b
    }

    #[test]
    fn checks_the_header() {
        let name = {
            let mut v = 5u64.to_le_bytes().to_vec();
            v.extend_from_slice(b"llama");
            v
        };
        let good = gguf(1, &[("general.architecture", 8, name)], 0);
        assert!(check(&good[..], good.len() as u64).unwrap().is_empty());
        let misaligned = gguf(1, &[], 3);
        assert!(
            check(&misaligned[..], misaligned.len() as u64).unwrap()[0].contains("not aligned")
        );
        let past = gguf(1, &[], 1 << 40);
        assert!(check(&past[..], past.len() as u64).unwrap()[0].contains("past the end"));
        let mut many = gguf(0, &[], 0);
        many[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(check(&many[..], many.len() as u64).unwrap()[0].contains("claims"));
        let huge_string = gguf(0, &[("k", 8, u64::MAX.to_le_bytes().to_vec())], 0);
        assert!(check(&huge_string[..], 100).unwrap()[0].contains("string claims"));
        assert!(check(&b"GGUF"[..], 4).unwrap()[0].contains("truncated"));
        assert!(check(&b"NOPE\x03\x00\x00\x00"[..], 8).unwrap()[0].contains("does not start"));
    }
}

//! Reading whole files that come from outside, bounded while reading: the size a file reports
//! cannot be trusted (a FIFO, `/dev/zero`, a file that grows).

use std::io::Read;
use std::path::Path;

/// Reads a file of at most `limit` bytes; `Err` says why not, in words.
pub fn read_limited(path: &Path, limit: u64) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > limit {
        return Err(format!("it is larger than {limit} bytes"));
    }
    Ok(bytes)
}

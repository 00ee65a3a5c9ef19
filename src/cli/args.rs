//! Argument parsers shared by several commands.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::Path;

use anyhow::{Context, bail};
use modelseal::keys::{MAX_KEY_FILE_BYTES, PublicKey};

/// `-a key=value`.
pub fn parse_annotation(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => Err(format!("annotation {text:?} is not key=value")),
    }
}

/// The `-a` pairs as a map; a key given twice is an error, not a silently dropped requirement.
pub fn annotation_map(pairs: &[(String, String)]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut map = BTreeMap::new();
    for (key, value) in pairs {
        if map.insert(key.clone(), value.clone()).is_some() {
            bail!("annotation {key:?} is given more than once; give each key once");
        }
    }
    Ok(map)
}

/// Reads a key file, bounded while reading: the size a file reports cannot be trusted (a
/// FIFO, `/dev/zero`).
pub fn read_key_file(path: &Path) -> anyhow::Result<zeroize::Zeroizing<Vec<u8>>> {
    Ok(read_key_file_with_mode(path)?.0)
}

/// [`read_key_file`], with the permission bits of the file that was read (not of the path,
/// which may have changed meanwhile).
pub fn read_key_file_with_mode(path: &Path) -> anyhow::Result<(zeroize::Zeroizing<Vec<u8>>, u32)> {
    use std::os::unix::fs::PermissionsExt as _;
    let file = fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mode = file
        .metadata()
        .with_context(|| format!("cannot read {}", path.display()))?
        .permissions()
        .mode();
    let mut bytes = zeroize::Zeroizing::new(Vec::new());
    file.take((MAX_KEY_FILE_BYTES as u64).saturating_add(1))
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.len() > MAX_KEY_FILE_BYTES {
        bail!(
            "{} is larger than {MAX_KEY_FILE_BYTES} bytes; it is not a key file",
            path.display()
        );
    }
    Ok((bytes, mode))
}

/// Loads a PKIX public key file.
pub fn read_public_key(path: &Path) -> anyhow::Result<PublicKey> {
    let bytes = read_key_file(path)?;
    PublicKey::from_pem(&bytes)
        .with_context(|| format!("cannot load the public key {}", path.display()))
}

/// A short, stable name for a key: the SHA-256 of its PKIX DER.
pub fn key_id(key: &PublicKey) -> anyhow::Result<String> {
    Ok(modelseal::oci::Digest::sha256_of(&key.to_spki_der()?).to_string())
}

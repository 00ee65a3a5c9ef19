//! `generate-key-pair` and `public-key`.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use modelseal::keys::{Algorithm, KdfStrength, PrivateKey, encrypt_cosign_key, load_private_key};

use super::password;

#[derive(clap::Args)]
pub struct GenerateArgs {
    /// The key algorithm.
    #[arg(long, default_value = "ecdsa-p256", value_parser = clap::value_parser!(Algorithm))]
    algorithm: Algorithm,
    /// Write PREFIX.key and PREFIX.pub.
    #[arg(long, default_value = "cosign", value_name = "PREFIX")]
    output_key_prefix: PathBuf,
    /// Replace existing key files.
    #[arg(long)]
    force: bool,
}

#[derive(clap::Args)]
pub struct PublicKeyArgs {
    /// The private key file (cosign's encrypted format, or PKCS#8 / SEC1 PEM).
    #[arg(long)]
    key: PathBuf,
    /// Write the public key here instead of standard output.
    #[arg(long)]
    outfile: Option<PathBuf>,
}

fn with_extension(prefix: &Path, extension: &str) -> PathBuf {
    let mut name = prefix.as_os_str().to_owned();
    name.push(".");
    name.push(extension);
    PathBuf::from(name)
}

pub fn generate(args: GenerateArgs) -> anyhow::Result<()> {
    let private_path = with_extension(&args.output_key_prefix, "key");
    let public_path = with_extension(&args.output_key_prefix, "pub");
    if !args.force {
        for path in [&private_path, &public_path] {
            if path.exists() {
                bail!(
                    "{} already exists; pass --force to replace it, or choose another --output-key-prefix",
                    path.display()
                );
            }
        }
    }
    let password = password::for_new_key()?;
    write_key_pair(
        &private_path,
        &public_path,
        args.algorithm,
        password.as_bytes(),
    )?;
    eprintln!("Private key written to {}", private_path.display());
    eprintln!("Public key written to {}", public_path.display());
    Ok(())
}

/// Generates a key and writes it encrypted (0600) and its public half (0644).
pub fn write_key_pair(
    private_path: &Path,
    public_path: &Path,
    algorithm: Algorithm,
    password: &[u8],
) -> anyhow::Result<PrivateKey> {
    let key = PrivateKey::generate(algorithm)?;
    let der = key.to_pkcs8_der()?;
    let private_pem = encrypt_cosign_key(&der, password, KdfStrength::Standard)?;
    let public_pem = key.public_key().to_pem()?;
    write_atomically(private_path, private_pem.as_bytes(), 0o600)?;
    write_atomically(public_path, public_pem.as_bytes(), 0o644)?;
    Ok(key)
}

pub fn public_key(args: PublicKeyArgs) -> anyhow::Result<()> {
    let key = read_private_key(&args.key)?;
    let pem = key.public_key().to_pem()?;
    match args.outfile {
        Some(path) => {
            write_atomically(&path, pem.as_bytes(), 0o644)?;
            eprintln!("Public key written to {}", path.display());
        }
        None => out!("{pem}"),
    }
    Ok(())
}

/// Loads a private key file, asking for its password only if it is encrypted. A file others
/// can read is refused, as ssh refuses one: a key (even encrypted) is for its owner alone.
pub fn read_private_key(path: &Path) -> anyhow::Result<PrivateKey> {
    let (bytes, mode) = super::args::read_key_file_with_mode(path)?;
    if mode & 0o077 != 0 {
        anyhow::bail!(
            "{} can be read by group or others (mode {:04o}); a private key must be for its owner alone: chmod 600 {}",
            path.display(),
            mode & 0o7777,
            path.display()
        );
    }
    load_private_key(&bytes, password::for_existing_key)
        .with_context(|| format!("cannot load the private key {}", path.display()))
}

/// Writes a file through a temporary file created with `mode` from the start (so a secret is
/// never readable by others, even briefly), then renames it into place.
pub(super) fn write_atomically(path: &Path, contents: &[u8], mode: u32) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".modelseal-")
        .permissions(fs::Permissions::from_mode(mode))
        .tempfile_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    tmp.as_file_mut().write_all(contents)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

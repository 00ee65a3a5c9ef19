//! Passwords for private keys: `COSIGN_PASSWORD` (cosign's variable, empty allowed), else a
//! prompt on the terminal without echo.

use modelseal::keys::KeyError;
use zeroize::Zeroizing;

const ENV: &str = "COSIGN_PASSWORD";

fn from_env() -> Option<Zeroizing<String>> {
    std::env::var(ENV).ok().map(Zeroizing::new)
}

fn prompt(text: &str) -> Result<Zeroizing<String>, KeyError> {
    rpassword::prompt_password(text)
        .map(Zeroizing::new)
        .map_err(|e| KeyError::Password(format!("{e}; set {ENV} when there is no terminal")))
}

/// The password of an existing key.
pub fn for_existing_key() -> Result<Zeroizing<String>, KeyError> {
    match from_env() {
        Some(password) => Ok(password),
        None => prompt("Enter password for private key: "),
    }
}

/// A password for a new key, typed twice on a terminal.
pub fn for_new_key() -> Result<Zeroizing<String>, KeyError> {
    if let Some(password) = from_env() {
        return Ok(password);
    }
    let first = prompt("Enter password for private key: ")?;
    let second = prompt("Enter password for private key again: ")?;
    if *first != *second {
        return Err(KeyError::Password("the passwords do not match".into()));
    }
    Ok(first)
}

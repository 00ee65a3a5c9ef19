//! cosign's encrypted private key file: PEM `ENCRYPTED SIGSTORE PRIVATE KEY` around JSON that
//! holds scrypt parameters, a salt, and a NaCl secretbox of the PKCS#8 DER key.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use crypto_secretbox::aead::{Aead, KeyInit};
use crypto_secretbox::{Nonce, XSalsa20Poly1305};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{KeyError, encode_pem};

pub const COSIGN_PRIVATE_KEY_LABEL: &str = "ENCRYPTED SIGSTORE PRIVATE KEY";
/// What cosign wrote before it moved to the Sigstore label; still read.
pub const COSIGN_LEGACY_LABEL: &str = "ENCRYPTED COSIGN PRIVATE KEY";

const KDF_NAME: &str = "scrypt";
const CIPHER_NAME: &str = "nacl/secretbox";
const SALT_LEN: usize = 32;
const NONCE_LEN: usize = 24;
const KEY_LEN: usize = 32;
const MAX_SALT_LEN: usize = 1024;

/// The scrypt cost parameters cosign accepts, by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KdfStrength {
    /// N = 2^15, what old cosign versions wrote.
    Legacy,
    /// N = 2^16, what cosign writes today.
    Standard,
    /// N = 2^17, OWASP's recommendation.
    Strong,
}

impl KdfStrength {
    fn log_n(self) -> u8 {
        match self {
            KdfStrength::Legacy => 15,
            KdfStrength::Standard => 16,
            KdfStrength::Strong => 17,
        }
    }

    fn from_n(n: u64) -> Option<KdfStrength> {
        [
            KdfStrength::Legacy,
            KdfStrength::Standard,
            KdfStrength::Strong,
        ]
        .into_iter()
        .find(|s| 1u64 << s.log_n() == n)
    }
}

// Field order matches cosign's Go structs, so the JSON is byte-compatible.
#[derive(Serialize, Deserialize)]
struct EncryptedKey {
    kdf: Kdf,
    cipher: Cipher,
    ciphertext: String,
}

#[derive(Serialize, Deserialize)]
struct Kdf {
    name: String,
    params: ScryptParams,
    salt: String,
}

#[derive(Serialize, Deserialize)]
struct ScryptParams {
    #[serde(rename = "N")]
    n: u64,
    r: u32,
    p: u32,
}

#[derive(Serialize, Deserialize)]
struct Cipher {
    name: String,
    nonce: String,
}

fn derive_key(
    password: &[u8],
    salt: &[u8],
    strength: KdfStrength,
) -> Result<Zeroizing<[u8; KEY_LEN]>, KeyError> {
    let params = scrypt::Params::new(strength.log_n(), 8, 1)
        .map_err(|e| KeyError::UnsupportedKdf(e.to_string()))?;
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    scrypt::scrypt(password, salt, &params, key.as_mut())
        .map_err(|e| KeyError::UnsupportedKdf(e.to_string()))?;
    Ok(key)
}

/// Encrypts PKCS#8 DER as cosign does and returns the PEM file text.
pub fn encrypt_cosign_key(
    pkcs8_der: &[u8],
    password: &[u8],
    strength: KdfStrength,
) -> Result<String, KeyError> {
    let mut salt = [0u8; SALT_LEN];
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut salt).map_err(|e| KeyError::Random(e.to_string()))?;
    getrandom::fill(&mut nonce).map_err(|e| KeyError::Random(e.to_string()))?;
    let key = derive_key(password, &salt, strength)?;
    let cipher = XSalsa20Poly1305::new(key.as_ref().into());
    let ciphertext = cipher
        .encrypt(&Nonce::from(nonce), pkcs8_der)
        .map_err(|_| KeyError::Invalid("encryption failed".into()))?;
    let file = EncryptedKey {
        kdf: Kdf {
            name: KDF_NAME.into(),
            params: ScryptParams {
                n: 1 << strength.log_n(),
                r: 8,
                p: 1,
            },
            salt: STANDARD.encode(salt),
        },
        cipher: Cipher {
            name: CIPHER_NAME.into(),
            nonce: STANDARD.encode(nonce),
        },
        ciphertext: STANDARD.encode(ciphertext),
    };
    let json = serde_json::to_vec(&file).map_err(|e| KeyError::Invalid(e.to_string()))?;
    Ok(encode_pem(COSIGN_PRIVATE_KEY_LABEL, json))
}

/// Decrypts the JSON body of a cosign key PEM into PKCS#8 DER.
pub fn decrypt_cosign_key(body: &[u8], password: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let file: EncryptedKey =
        serde_json::from_slice(body).map_err(|e| KeyError::Malformed(e.to_string()))?;
    if file.kdf.name != KDF_NAME {
        return Err(KeyError::UnsupportedKdf(format!("{:?}", file.kdf.name)));
    }
    let ScryptParams { n, r, p } = file.kdf.params;
    let strength = KdfStrength::from_n(n)
        .filter(|_| r == 8 && p == 1)
        .ok_or_else(|| KeyError::UnsupportedKdf(format!("scrypt N = {n}, r = {r}, p = {p}")))?;
    if file.cipher.name != CIPHER_NAME {
        return Err(KeyError::UnsupportedCipher(file.cipher.name));
    }
    let decode = |field: &str, value: &str| {
        STANDARD
            .decode(value)
            .map_err(|e| KeyError::Malformed(format!("{field} is not base64: {e}")))
    };
    let salt = decode("kdf.salt", &file.kdf.salt)?;
    if salt.is_empty() || salt.len() > MAX_SALT_LEN {
        return Err(KeyError::Malformed(format!(
            "the salt is {} bytes",
            salt.len()
        )));
    }
    let nonce: [u8; NONCE_LEN] = decode("cipher.nonce", &file.cipher.nonce)?
        .try_into()
        .map_err(|_| KeyError::Malformed(format!("the nonce is not {NONCE_LEN} bytes")))?;
    let ciphertext = decode("ciphertext", &file.ciphertext)?;
    let key = derive_key(password, &salt, strength)?;
    let cipher = XSalsa20Poly1305::new(key.as_ref().into());
    let plaintext = cipher
        .decrypt(&Nonce::from(nonce), ciphertext.as_slice())
        .map_err(|_| KeyError::Decrypt)?;
    Ok(Zeroizing::new(plaintext))
}

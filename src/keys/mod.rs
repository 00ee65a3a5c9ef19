//! Keys: generation, cosign's encrypted private key files, plain PEM keys, signing and
//! verification with ECDSA P-256 (SHA-256) and Ed25519.

mod cosign;

use std::fmt;

use p256::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use zeroize::Zeroizing;

pub use cosign::{
    COSIGN_LEGACY_LABEL, COSIGN_PRIVATE_KEY_LABEL, KdfStrength, decrypt_cosign_key,
    encrypt_cosign_key,
};

/// The largest key file read.
pub const MAX_KEY_FILE_BYTES: usize = 64 << 10;
pub const PUBLIC_KEY_LABEL: &str = "PUBLIC KEY";
const PKCS8_LABEL: &str = "PRIVATE KEY";
const SEC1_LABEL: &str = "EC PRIVATE KEY";

const OID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_ED25519: &str = "1.3.101.112";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the key file is larger than {MAX_KEY_FILE_BYTES} bytes; it is not a key")]
    TooLarge,
    #[error("the key file is not valid PEM: {0}")]
    NotPem(String),
    #[error(
        "unsupported key file: PEM label {0:?}; expected ENCRYPTED SIGSTORE PRIVATE KEY, ENCRYPTED COSIGN PRIVATE KEY, PRIVATE KEY or EC PRIVATE KEY"
    )]
    UnsupportedLabel(String),
    #[error("the encrypted key file is malformed: {0}")]
    Malformed(String),
    #[error(
        "unsupported key derivation {0}; cosign key files use scrypt with N = 32768, 65536 or 131072, r = 8 and p = 1"
    )]
    UnsupportedKdf(String),
    #[error("unsupported cipher {0:?}; cosign key files use nacl/secretbox")]
    UnsupportedCipher(String),
    #[error("cannot decrypt the private key: wrong password, or the key file is corrupted")]
    Decrypt,
    #[error("unsupported key algorithm ({0}); modelseal uses ECDSA P-256 or Ed25519 keys")]
    UnsupportedAlgorithm(String),
    #[error("invalid key: {0}")]
    Invalid(String),
    #[error("the signature does not verify with this key")]
    BadSignature,
    #[error("no secure random numbers available: {0}")]
    Random(String),
    #[error("cannot read the password: {0}")]
    Password(String),
}

/// The signature algorithms modelseal signs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// ECDSA over NIST P-256 with SHA-256 (cosign's default).
    EcdsaP256,
    /// Ed25519 (RFC 8032).
    Ed25519,
}

impl std::str::FromStr for Algorithm {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ecdsa-p256" => Ok(Algorithm::EcdsaP256),
            "ed25519" => Ok(Algorithm::Ed25519),
            other => Err(format!(
                "unknown algorithm {other:?}; choose ecdsa-p256 or ed25519"
            )),
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Algorithm::EcdsaP256 => "ecdsa-p256",
            Algorithm::Ed25519 => "ed25519",
        })
    }
}

/// A private key. Both variants zeroize their secret on drop.
pub enum PrivateKey {
    EcdsaP256(p256::ecdsa::SigningKey),
    Ed25519(ed25519_dalek::SigningKey),
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey({}, redacted)", self.algorithm())
    }
}

/// A public key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublicKey {
    EcdsaP256(p256::ecdsa::VerifyingKey),
    Ed25519(ed25519_dalek::VerifyingKey),
}

impl PrivateKey {
    /// A fresh key from the operating system's random number generator.
    pub fn generate(algorithm: Algorithm) -> Result<PrivateKey, KeyError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        // A random 32-byte string is a valid P-256 scalar but with negligible probability.
        for _ in 0..8 {
            getrandom::fill(seed.as_mut()).map_err(|e| KeyError::Random(e.to_string()))?;
            match algorithm {
                Algorithm::Ed25519 => {
                    return Ok(PrivateKey::Ed25519(ed25519_dalek::SigningKey::from_bytes(
                        &seed,
                    )));
                }
                Algorithm::EcdsaP256 => {
                    if let Ok(key) = p256::ecdsa::SigningKey::from_slice(seed.as_ref()) {
                        return Ok(PrivateKey::EcdsaP256(key));
                    }
                }
            }
        }
        Err(KeyError::Random("no valid P-256 scalar drawn".into()))
    }

    pub fn algorithm(&self) -> Algorithm {
        match self {
            PrivateKey::EcdsaP256(_) => Algorithm::EcdsaP256,
            PrivateKey::Ed25519(_) => Algorithm::Ed25519,
        }
    }

    pub fn public_key(&self) -> PublicKey {
        match self {
            PrivateKey::EcdsaP256(k) => PublicKey::EcdsaP256(*k.verifying_key()),
            PrivateKey::Ed25519(k) => PublicKey::Ed25519(k.verifying_key()),
        }
    }

    /// Signs `message`: ECDSA signatures are ASN.1 DER over SHA-256 of the message (as cosign
    /// writes them), Ed25519 signatures are the 64 raw bytes.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        use p256::ecdsa::signature::Signer;
        match self {
            PrivateKey::EcdsaP256(k) => {
                let signature: p256::ecdsa::Signature = k.sign(message);
                signature.to_der().to_bytes().into_vec()
            }
            PrivateKey::Ed25519(k) => k.sign(message).to_bytes().to_vec(),
        }
    }

    /// The key as PKCS#8 DER, in memory that is wiped when dropped.
    pub fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let document = match self {
            PrivateKey::EcdsaP256(k) => k.to_pkcs8_der(),
            PrivateKey::Ed25519(k) => k.to_pkcs8_der(),
        }
        .map_err(|e| KeyError::Invalid(e.to_string()))?;
        Ok(Zeroizing::new(document.as_bytes().to_vec()))
    }

    /// Reads PKCS#8 DER holding a P-256 or Ed25519 key.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<PrivateKey, KeyError> {
        let info = pkcs8::PrivateKeyInfoRef::try_from(der)
            .map_err(|e| KeyError::Invalid(format!("not a PKCS#8 private key: {e}")))?;
        match algorithm_of(&info.algorithm)? {
            Algorithm::EcdsaP256 => p256::ecdsa::SigningKey::from_pkcs8_der(der)
                .map(PrivateKey::EcdsaP256)
                .map_err(|e| KeyError::Invalid(e.to_string())),
            Algorithm::Ed25519 => ed25519_dalek::SigningKey::from_pkcs8_der(der)
                .map(PrivateKey::Ed25519)
                .map_err(|e| KeyError::Invalid(e.to_string())),
        }
    }
}

/// The algorithm an X.509 / PKCS#8 algorithm identifier names, if modelseal supports it.
fn algorithm_of(identifier: &spki::AlgorithmIdentifierRef<'_>) -> Result<Algorithm, KeyError> {
    let (algorithm, parameters) = identifier
        .oids()
        .map_err(|e| KeyError::Invalid(e.to_string()))?;
    let parameters = parameters.map(|p| p.to_string());
    match (algorithm.to_string().as_str(), parameters.as_deref()) {
        (OID_EC_PUBLIC_KEY, Some(OID_P256)) => Ok(Algorithm::EcdsaP256),
        (OID_ED25519, _) => Ok(Algorithm::Ed25519),
        (OID_EC_PUBLIC_KEY, curve) => Err(KeyError::UnsupportedAlgorithm(format!(
            "elliptic curve {}",
            curve.unwrap_or("(unnamed)")
        ))),
        (other, _) => Err(KeyError::UnsupportedAlgorithm(format!(
            "algorithm OID {other}"
        ))),
    }
}

impl PublicKey {
    pub fn algorithm(&self) -> Algorithm {
        match self {
            PublicKey::EcdsaP256(_) => Algorithm::EcdsaP256,
            PublicKey::Ed25519(_) => Algorithm::Ed25519,
        }
    }

    /// Checks a signature made by [`PrivateKey::sign`]. Ed25519 is verified strictly (no
    /// small-order keys, canonical encodings).
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), KeyError> {
        use p256::ecdsa::signature::Verifier;
        match self {
            PublicKey::EcdsaP256(k) => {
                let signature = p256::ecdsa::Signature::from_der(signature)
                    .map_err(|_| KeyError::BadSignature)?;
                k.verify(message, &signature)
                    .map_err(|_| KeyError::BadSignature)
            }
            PublicKey::Ed25519(k) => {
                let bytes: &[u8; 64] = signature.try_into().map_err(|_| KeyError::BadSignature)?;
                k.verify_strict(message, &ed25519_dalek::Signature::from_bytes(bytes))
                    .map_err(|_| KeyError::BadSignature)
            }
        }
    }

    /// SubjectPublicKeyInfo DER.
    pub fn to_spki_der(&self) -> Result<Vec<u8>, KeyError> {
        let document = match self {
            PublicKey::EcdsaP256(k) => k.to_public_key_der(),
            PublicKey::Ed25519(k) => k.to_public_key_der(),
        }
        .map_err(|e| KeyError::Invalid(e.to_string()))?;
        Ok(document.as_bytes().to_vec())
    }

    /// PKIX PEM (`PUBLIC KEY`), as cosign writes `cosign.pub`.
    pub fn to_pem(&self) -> Result<String, KeyError> {
        Ok(encode_pem(PUBLIC_KEY_LABEL, self.to_spki_der()?))
    }

    /// Reads a PKIX `PUBLIC KEY` PEM holding a P-256 or Ed25519 key.
    pub fn from_pem(bytes: &[u8]) -> Result<PublicKey, KeyError> {
        let block = parse_pem(bytes)?;
        if block.tag() != PUBLIC_KEY_LABEL {
            return Err(KeyError::UnsupportedLabel(block.tag().to_string()));
        }
        PublicKey::from_spki_der(block.contents())
    }

    pub fn from_spki_der(der: &[u8]) -> Result<PublicKey, KeyError> {
        let info = spki::SubjectPublicKeyInfoRef::try_from(der)
            .map_err(|e| KeyError::Invalid(format!("not a PKIX public key: {e}")))?;
        match algorithm_of(&info.algorithm)? {
            Algorithm::EcdsaP256 => p256::ecdsa::VerifyingKey::from_public_key_der(der)
                .map(PublicKey::EcdsaP256)
                .map_err(|e| KeyError::Invalid(e.to_string())),
            Algorithm::Ed25519 => ed25519_dalek::VerifyingKey::from_public_key_der(der)
                .map(PublicKey::Ed25519)
                .map_err(|e| KeyError::Invalid(e.to_string())),
        }
    }
}

/// Loads a private key file: cosign's encrypted formats (asking `password` only then), or a
/// plain PKCS#8 or SEC1 PEM.
pub fn load_private_key(
    bytes: &[u8],
    password: impl FnOnce() -> Result<Zeroizing<String>, KeyError>,
) -> Result<PrivateKey, KeyError> {
    let block = parse_pem(bytes)?;
    let label = block.tag().to_string();
    let contents = Zeroizing::new(block.into_contents());
    match label.as_str() {
        COSIGN_PRIVATE_KEY_LABEL | COSIGN_LEGACY_LABEL => {
            let password = password()?;
            let der = decrypt_cosign_key(&contents, password.as_bytes())?;
            PrivateKey::from_pkcs8_der(&der)
        }
        PKCS8_LABEL => PrivateKey::from_pkcs8_der(&contents),
        SEC1_LABEL => {
            let secret = p256::SecretKey::from_sec1_der(&contents).map_err(|e| {
                KeyError::Invalid(format!(
                    "not a P-256 SEC1 key ({e}); only P-256 is supported"
                ))
            })?;
            Ok(PrivateKey::EcdsaP256(p256::ecdsa::SigningKey::from(secret)))
        }
        other => Err(KeyError::UnsupportedLabel(other.to_string())),
    }
}

fn parse_pem(bytes: &[u8]) -> Result<pem::Pem, KeyError> {
    if bytes.len() > MAX_KEY_FILE_BYTES {
        return Err(KeyError::TooLarge);
    }
    let blocks = pem::parse_many(bytes).map_err(|e| KeyError::NotPem(e.to_string()))?;
    let mut blocks = blocks.into_iter();
    match (blocks.next(), blocks.next()) {
        (Some(block), None) => Ok(block),
        (None, _) => Err(KeyError::NotPem(
            "no PEM block found (is the file truncated?)".into(),
        )),
        (Some(_), Some(_)) => Err(KeyError::NotPem(
            "more than one PEM block; give one key per file".into(),
        )),
    }
}

/// PEM with 64-character lines and `\n` line ends, as Go's encoding/pem writes it.
pub(crate) fn encode_pem(label: &str, contents: Vec<u8>) -> String {
    let config = pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF);
    pem::encode_config(&pem::Pem::new(label, contents), config)
}

#[cfg(test)]
mod tests;

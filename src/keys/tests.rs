use super::*;

const COSIGN_KEY: &[u8] = include_bytes!("../../testdata/keys/cosign-generated-empty-password.key");
const LEGACY_LABEL_KEY: &[u8] =
    include_bytes!("../../testdata/keys/legacy-cosign-label-ecdsa-password-123.key");
const ED25519_KEY: &[u8] = include_bytes!("../../testdata/keys/ed25519-n32768-password-123.key");

fn password(p: &str) -> impl FnOnce() -> Result<Zeroizing<String>, KeyError> + '_ {
    move || Ok(Zeroizing::new(p.to_string()))
}

fn sign_and_verify(key: &PrivateKey) {
    let signature = key.sign(b"payload");
    key.public_key().verify(b"payload", &signature).unwrap();
    assert!(matches!(
        key.public_key().verify(b"payloaD", &signature),
        Err(KeyError::BadSignature)
    ));
}

#[test]
fn loads_a_key_generated_by_cosign() {
    let key = load_private_key(COSIGN_KEY, password("")).unwrap();
    assert_eq!(key.algorithm(), Algorithm::EcdsaP256);
    sign_and_verify(&key);
}

#[test]
fn loads_older_sigstore_files() {
    let key = load_private_key(LEGACY_LABEL_KEY, password("123")).unwrap();
    assert_eq!(key.algorithm(), Algorithm::EcdsaP256);
    let key = load_private_key(ED25519_KEY, password("123")).unwrap();
    assert_eq!(key.algorithm(), Algorithm::Ed25519);
    sign_and_verify(&key);
}

#[test]
fn wrong_password_is_reported_as_such() {
    let err = load_private_key(COSIGN_KEY, password("not-empty")).unwrap_err();
    assert!(matches!(err, KeyError::Decrypt), "{err}");
    assert!(err.to_string().contains("wrong password"));
}

#[test]
fn truncated_pem_is_rejected() {
    let half = &COSIGN_KEY[..COSIGN_KEY.len() / 2];
    let err = load_private_key(half, password("")).unwrap_err();
    assert!(matches!(err, KeyError::NotPem(_)), "{err}");
    assert!(matches!(
        load_private_key(b"", password("")),
        Err(KeyError::NotPem(_))
    ));
}

fn cosign_body(key: &[u8]) -> String {
    let block = pem::parse(key).unwrap();
    String::from_utf8(block.contents().to_vec()).unwrap()
}

fn rewrap(body: &str) -> Vec<u8> {
    encode_pem(COSIGN_PRIVATE_KEY_LABEL, body.as_bytes().to_vec()).into_bytes()
}

#[test]
fn unknown_kdf_parameters_are_rejected_before_any_work() {
    let body = cosign_body(COSIGN_KEY);
    for (from, to) in [
        (r#""N":65536"#, r#""N":1024"#),
        (r#""N":65536"#, r#""N":4294967296"#),
        (r#""r":8"#, r#""r":1"#),
        (r#""p":1"#, r#""p":16"#),
        (r#""name":"scrypt""#, r#""name":"argon2""#),
    ] {
        assert!(body.contains(from));
        let err = load_private_key(&rewrap(&body.replace(from, to)), password("")).unwrap_err();
        assert!(matches!(err, KeyError::UnsupportedKdf(_)), "{to}: {err}");
    }
    let other_cipher = body.replace("nacl/secretbox", "aes-gcm");
    let err = load_private_key(&rewrap(&other_cipher), password("")).unwrap_err();
    assert!(matches!(err, KeyError::UnsupportedCipher(_)));
    let err = load_private_key(&rewrap("{}"), password("")).unwrap_err();
    assert!(matches!(err, KeyError::Malformed(_)));
}

#[test]
fn password_is_asked_only_for_encrypted_keys() {
    let key = PrivateKey::generate(Algorithm::EcdsaP256).unwrap();
    let plain = encode_pem("PRIVATE KEY", key.to_pkcs8_der().unwrap().to_vec());
    let loaded = load_private_key(plain.as_bytes(), || panic!("asked for a password")).unwrap();
    assert_eq!(loaded.public_key(), key.public_key());
}

#[test]
fn sec1_keys_load() {
    let secret = p256::SecretKey::from_slice(&[7u8; 32]).unwrap();
    let sec1 = secret.to_sec1_der().unwrap();
    let text = encode_pem("EC PRIVATE KEY", sec1.to_vec());
    let key = load_private_key(text.as_bytes(), password("")).unwrap();
    assert_eq!(key.algorithm(), Algorithm::EcdsaP256);
}

#[test]
fn generated_keys_round_trip_through_the_cosign_format() {
    for algorithm in [Algorithm::EcdsaP256, Algorithm::Ed25519] {
        let key = PrivateKey::generate(algorithm).unwrap();
        let der = key.to_pkcs8_der().unwrap();
        let text = encrypt_cosign_key(&der, b"s3cret", KdfStrength::Legacy).unwrap();
        let loaded = load_private_key(text.as_bytes(), password("s3cret")).unwrap();
        assert_eq!(loaded.public_key(), key.public_key());
        sign_and_verify(&loaded);
        let public = PublicKey::from_pem(key.public_key().to_pem().unwrap().as_bytes()).unwrap();
        assert_eq!(public, key.public_key());
    }
}

/// The file cosign reads, byte for byte: Go's PEM framing (64-column lines, `\n`), the label,
/// and the JSON body in cosign's field order with standard padded base64.
#[test]
fn written_key_file_matches_cosigns_format_byte_for_byte() {
    let key = PrivateKey::generate(Algorithm::EcdsaP256).unwrap();
    let text =
        encrypt_cosign_key(&key.to_pkcs8_der().unwrap(), b"", KdfStrength::Standard).unwrap();
    let lines: Vec<&str> = text.split('\n').collect();
    assert_eq!(lines[0], "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----");
    assert_eq!(
        lines[lines.len() - 2],
        "-----END ENCRYPTED SIGSTORE PRIVATE KEY-----"
    );
    assert_eq!(lines[lines.len() - 1], "", "ends with a newline");
    let body_lines = &lines[1..lines.len() - 2];
    for line in &body_lines[..body_lines.len() - 1] {
        assert_eq!(line.len(), 64);
    }
    assert!(!text.contains('\r'));
    let json = String::from_utf8(STANDARD_B64.decode(body_lines.concat()).unwrap()).unwrap();
    // {"kdf":{"name":"scrypt","params":{"N":65536,"r":8,"p":1},"salt":"<44>"},"cipher":{"name":"nacl/secretbox","nonce":"<32>"},"ciphertext":"<b64>"}
    let prefix = r#"{"kdf":{"name":"scrypt","params":{"N":65536,"r":8,"p":1},"salt":""#;
    assert!(json.starts_with(prefix), "{json}");
    let rest = &json[prefix.len()..];
    let salt = &rest[..44];
    assert_eq!(STANDARD_B64.decode(salt).unwrap().len(), 32);
    let rest = &rest[44..];
    let middle = r#""},"cipher":{"name":"nacl/secretbox","nonce":""#;
    assert!(rest.starts_with(middle), "{rest}");
    let rest = &rest[middle.len()..];
    assert_eq!(STANDARD_B64.decode(&rest[..32]).unwrap().len(), 24);
    let rest = &rest[32..];
    let tail = r#""},"ciphertext":""#;
    assert!(rest.starts_with(tail), "{rest}");
    assert!(rest.ends_with(r#""}"#));
    let ciphertext = &rest[tail.len()..rest.len() - 2];
    // secretbox adds a 16-byte tag to the PKCS#8 DER.
    let der_len = key.to_pkcs8_der().unwrap().len();
    assert_eq!(STANDARD_B64.decode(ciphertext).unwrap().len(), der_len + 16);
}

#[test]
fn public_keys_are_pkix_pem_and_other_algorithms_are_named() {
    let key = PrivateKey::generate(Algorithm::Ed25519).unwrap();
    let text = key.public_key().to_pem().unwrap();
    assert!(text.starts_with("-----BEGIN PUBLIC KEY-----\n"));
    assert!(text.ends_with("-----END PUBLIC KEY-----\n"));
    // A P-384 public key (from RFC test data shape): algorithm id-ecPublicKey, curve secp384r1.
    let p384_spki_prefix = hex::decode("3076301006072a8648ce3d020106052b81040022036200").unwrap();
    let mut der = p384_spki_prefix;
    der.extend([4u8; 97]);
    let err = PublicKey::from_spki_der(&der).unwrap_err();
    assert!(matches!(err, KeyError::UnsupportedAlgorithm(_)), "{err}");
    assert!(err.to_string().contains("1.3.132.0.34"));
}

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as STANDARD_B64;

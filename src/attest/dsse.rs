//! DSSE envelopes (sigstore-types' envelope, which holds exactly one signature) signed and
//! verified with modelseal's keys over the pre-authentication encoding.

use sigstore_types::dsse::{DsseEnvelope, DsseSignature, pae};
use sigstore_types::{KeyId, PayloadBytes, SignatureBytes};

use crate::keys::{KeyError, PrivateKey, PublicKey};

/// Signs `payload` of `payload_type` into an envelope.
pub fn sign(key: &PrivateKey, payload_type: &str, payload: Vec<u8>) -> DsseEnvelope {
    let signature = key.sign(&pae(payload_type, &payload));
    DsseEnvelope::new(
        payload_type,
        PayloadBytes::new(payload),
        DsseSignature::new(SignatureBytes::new(signature), KeyId::default()),
    )
}

/// Checks the envelope's signature over the exact payload bytes it carries.
pub fn verify(key: &PublicKey, envelope: &DsseEnvelope) -> Result<(), KeyError> {
    key.verify(&envelope.pae(), envelope.signature.sig.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Algorithm;

    #[test]
    fn pae_is_the_dsse_v1_encoding() {
        assert_eq!(
            pae("application/vnd.in-toto+json", b"hello"),
            b"DSSEv1 28 application/vnd.in-toto+json 5 hello"
        );
    }

    #[test]
    fn envelopes_verify_with_the_right_key_only() {
        for algorithm in [Algorithm::EcdsaP256, Algorithm::Ed25519] {
            let key = PrivateKey::generate(algorithm).unwrap();
            let envelope = sign(&key, "text/plain", b"payload".to_vec());
            verify(&key.public_key(), &envelope).unwrap();
            let other = PrivateKey::generate(algorithm).unwrap();
            assert!(verify(&other.public_key(), &envelope).is_err());
            let mut altered = envelope.clone();
            altered.payload_type = "text/html".into();
            assert!(verify(&key.public_key(), &altered).is_err());
        }
    }
}

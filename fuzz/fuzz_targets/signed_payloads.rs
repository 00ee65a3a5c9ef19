//! Signed payloads: simple-signing payloads, DSSE envelopes and in-toto statements, read
//! strictly. A payload accepted for a digest names that digest; an envelope or statement that
//! parses serializes to one that parses to the same value.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use modelseal::attest::statement::Statement;
use modelseal::oci::Digest;
use modelseal::signature::simple_signing;
use sigstore_types::DsseEnvelope;

fuzz_target!(|data: &[u8]| {
    let digest = Digest::sha256_of(b"subject");
    if simple_signing::check(data, &digest, &BTreeMap::new()).is_ok() {
        let text = String::from_utf8_lossy(data);
        assert!(text.contains(digest.hex()));
    }
    if let Ok(envelope) = modelseal::json::from_slice_strict::<DsseEnvelope>(data) {
        let bytes = serde_json::to_vec(&envelope).expect("serializes");
        assert_eq!(
            serde_json::from_slice::<DsseEnvelope>(&bytes).ok(),
            Some(envelope.clone())
        );
        let _ = modelseal::signature::bundle::read_statement(&envelope);
    }
    if let Ok(statement) = modelseal::json::from_slice_strict::<Statement>(data) {
        let bytes = serde_json::to_vec(&statement).expect("serializes");
        let again: Statement = modelseal::json::from_slice_strict(&bytes).expect("parses");
        assert_eq!(again, statement);
        let _ = statement.subject_for(&digest);
    }
});

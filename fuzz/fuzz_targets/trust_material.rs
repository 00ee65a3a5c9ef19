//! Trusted roots and key files: any bytes load or are refused without a panic; a public key
//! that loads prints back to the same key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use modelseal::keys::PublicKey;
use sigstore_verify::trust_root::TrustedRoot;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(root) = TrustedRoot::from_json(text) {
            let _ = sigstore_verify::Verifier::new(&root);
        }
    }
    if let Ok(key) = PublicKey::from_pem(data) {
        let pem = key.to_pem().expect("a loaded key prints");
        let again = PublicKey::from_pem(pem.as_bytes()).expect("it loads again");
        assert_eq!(again.to_spki_der().ok(), key.to_spki_der().ok());
    }
    // Plain key files load without a password; encrypted ones are asked for none here, so
    // scrypt never runs and the fuzzer stays fast.
    let _ = modelseal::keys::load_private_key(data, || {
        Err(modelseal::keys::KeyError::Invalid("no password".into()))
    });
});

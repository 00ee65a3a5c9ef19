//! Sigstore bundles and cosign's keyless annotations: a bundle that parses serializes to one
//! that parses to the same JSON; annotations read into a bundle without a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use modelseal::oci::{Annotations, Descriptor, Digest};
use modelseal::signature::{bundle, sigstore_annotations};

fuzz_target!(|data: &[u8]| {
    if let Ok(parsed) = bundle::parse(data) {
        let json = parsed.to_json().expect("a parsed bundle serializes");
        let again = bundle::parse(json.as_bytes()).expect("it parses again");
        assert_eq!(again.to_json().ok(), Some(json));
        let _ = bundle::statement(&parsed);
    }
    // The same bytes as each Sigstore annotation of a legacy layer.
    let text = String::from_utf8_lossy(data).into_owned();
    let keys = [
        sigstore_annotations::CERTIFICATE,
        sigstore_annotations::CHAIN,
        sigstore_annotations::REKOR_BUNDLE,
        sigstore_annotations::TIMESTAMP,
    ];
    let mut layer = Descriptor::new("x", Digest::sha256_of(data), 0);
    layer.annotations = Some(Annotations::from(
        keys.map(|k| (k.to_string(), text.clone())),
    ));
    let content = sigstore_annotations::Content::Message {
        payload: data,
        signature: data,
    };
    let _ = sigstore_annotations::to_bundle(&layer, content);
    // And as a key-based layer's log entry and timestamp (no certificate).
    if let Some(annotations) = layer.annotations.as_mut() {
        annotations.remove(sigstore_annotations::CERTIFICATE);
        annotations.remove(sigstore_annotations::CHAIN);
    }
    let _ = sigstore_annotations::to_key_bundle(&layer, content, "hint");
});

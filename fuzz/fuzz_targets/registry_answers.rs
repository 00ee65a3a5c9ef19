//! What registries answer: `WWW-Authenticate`, `Link` and error envelopes, without a panic;
//! a bearer challenge keeps its realm; a next page is one of the links given.
#![no_main]

use libfuzzer_sys::fuzz_target;
use modelseal::oci::registry::wire::{self, Challenge};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Some(Challenge::Bearer { realm, .. }) = Challenge::parse(&text) {
        assert!(text.contains(realm.as_str()) || realm.is_empty() || text.contains('\\'));
    }
    if let Some(next) = wire::next_page(text.split('\n')) {
        assert!(text.contains(&format!("<{next}>")));
    }
    let (codes, detail) = wire::error_envelope(data);
    assert!(codes.iter().all(|c| detail.contains(c.as_str())));
});

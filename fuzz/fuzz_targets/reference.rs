//! References: whatever parses prints back to text that parses to the same reference.
#![no_main]

use libfuzzer_sys::fuzz_target;
use modelseal::reference::Reference;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(reference) = text.parse::<Reference>() {
        let printed = reference.to_string();
        let again: Reference = printed.parse().expect("a printed reference parses");
        assert_eq!(again, reference, "{text:?} printed as {printed:?}");
        assert_eq!(again.to_string(), printed);
    }
});

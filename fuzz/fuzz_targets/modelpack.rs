//! ModelPack validation over any manifest and config (the first byte splits the input):
//! never a panic, and what validates has only safe, unique relative file paths.
#![no_main]

use libfuzzer_sys::fuzz_target;
use modelseal::modelpack::{check_relative_path, from_bytes};
use modelseal::oci::{Descriptor, Digest, MEDIA_TYPE_IMAGE_MANIFEST};

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let at = (split as usize * rest.len()) / 256;
    let (manifest, config) = rest.split_at(at);
    let descriptor = Descriptor::new(
        MEDIA_TYPE_IMAGE_MANIFEST,
        Digest::sha256_of(manifest),
        manifest.len() as u64,
    );
    if let Ok(pack) = from_bytes(&descriptor, manifest.to_vec(), |_| Ok(config.to_vec())) {
        let mut paths = std::collections::BTreeSet::new();
        for layer in &pack.layers {
            if let Some(path) = layer.filepath.as_deref() {
                check_relative_path(path).expect("a validated path is safe");
                assert!(paths.insert(path.to_string()), "{path} twice");
            }
        }
    }
});

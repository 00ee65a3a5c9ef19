//! OCI manifests and indexes, read strictly: what parses serializes to JSON that parses to the
//! same value; the strict reader never accepts what the plain one refuses.
#![no_main]

use libfuzzer_sys::fuzz_target;
use modelseal::oci::{ImageIndex, ImageManifest};

fn round_trip<T>(data: &[u8])
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    if let Ok(value) = modelseal::json::from_slice_strict::<T>(data) {
        assert!(serde_json::from_slice::<T>(data).is_ok());
        let bytes = serde_json::to_vec(&value).expect("a parsed value serializes");
        let again: T = modelseal::json::from_slice_strict(&bytes).expect("it parses again");
        assert_eq!(again, value);
    }
}

fuzz_target!(|data: &[u8]| {
    round_trip::<ImageManifest>(data);
    round_trip::<ImageIndex>(data);
});

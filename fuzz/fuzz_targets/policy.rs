//! Policy files: any bytes load or are refused with problems, never a panic (the file is
//! written where the loader reads it, as a user's would be).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    thread_local! {
        static DIR: tempfile::TempDir = tempfile::tempdir().expect("a temporary folder");
    }
    DIR.with(|dir| {
        let path = dir.path().join("policy.yaml");
        std::fs::write(&path, data).expect("writes");
        let _ = modelseal::policy::PolicySet::load(&path);
    });
});

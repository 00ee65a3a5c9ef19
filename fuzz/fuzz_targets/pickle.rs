//! Any bytes walk as a pickle without a panic; every import found is judged; the walk is the
//! same on a second run.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let first = modelseal::scan::pickle::analyse(data).expect("reading a slice cannot fail");
    let second = modelseal::scan::pickle::analyse(data).expect("reading a slice cannot fail");
    assert_eq!(first, second);
    for import in &first.imports {
        let _ = modelseal::scan::policy::judge(import);
    }
    assert!(first.problems.len() <= 64);
});

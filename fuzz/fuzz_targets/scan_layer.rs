//! Any bytes, under any of the file names the scanner treats specially, are scanned without a
//! panic, and a scan of the same bytes gives the same findings.
#![no_main]

use libfuzzer_sys::fuzz_target;

const NAMES: [&str; 6] = [
    "model.pkl",
    "model.safetensors",
    "model.gguf",
    "checkpoint.pt",
    "README.md",
    "weights.bin",
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let name = NAMES[usize::from(selector) % NAMES.len()];
    let scan = |bytes: &[u8]| {
        let mut input = std::io::BufReader::new(bytes);
        modelseal::scan::scan_layer(
            &mut input,
            bytes.len() as u64,
            "application/vnd.cncf.model.weight.v1.raw",
            Some(name),
        )
        .map(|(format, findings)| {
            (
                format,
                findings
                    .iter()
                    .map(|f| format!("{:?} {:?} {}", f.severity, f.member, f.reason))
                    .collect::<Vec<_>>(),
            )
        })
        .map_err(|e| e.to_string())
    };
    assert_eq!(scan(bytes), scan(bytes), "scanning is deterministic");
});

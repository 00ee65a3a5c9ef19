//! Rego input building and the starter rules: any statement that reads strictly becomes an
//! input document the shipped rules (provenance, scan) judge without a panic, the same way
//! twice.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use modelseal::attest::statement::Statement;
use modelseal::oci::{Descriptor, Digest, MEDIA_TYPE_IMAGE_MANIFEST};
use modelseal::policy::evaluate::rule_input;
use modelseal::policy::rules::Rules;
use modelseal::reference::Reference;

fuzz_target!(|data: &[u8]| {
    thread_local! {
        static RULES: Rules = Rules::load(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies"),
            &["rules/provenance.rego".into(), "rules/scan.rego".into()],
            &["data/trusted-builds.yaml".into()],
        )
        .expect("the starter rules load");
    }
    let Ok(statement) = modelseal::json::from_slice_strict::<Statement>(data) else {
        return;
    };
    let subject = Descriptor::new(MEDIA_TYPE_IMAGE_MANIFEST, Digest::sha256_of(data), 1);
    let reference: Reference = "oci:/models:v1".parse().expect("a reference");
    let input = rule_input(
        &statement,
        "ci",
        &subject,
        &reference,
        None,
        "2026-01-01T00:00:00Z",
    );
    RULES.with(|rules| {
        let first = rules
            .evaluate(&input)
            .map(|v| (v.deny, v.warn))
            .map_err(|e| format!("{e:?}"));
        let second = rules
            .evaluate(&input)
            .map(|v| (v.deny, v.warn))
            .map_err(|e| format!("{e:?}"));
        assert_eq!(first, second);
    });
});

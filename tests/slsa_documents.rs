//! SLSA provenance that other tools produced (slsa-github-generator, GitHub's
//! attest-build-provenance, npm, Google Cloud Build; see `testdata/slsa/SOURCES.md`) reads as
//! in-toto statements and as typed provenance of its version, v0.2 or v1.

use modelseal::attest::slsa::{self, Provenance};
use modelseal::attest::statement::Statement;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/slsa");

#[test]
fn real_provenance_documents_parse() {
    let mut seen = (0, 0);
    for entry in std::fs::read_dir(DIR).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let statement: Statement = modelseal::json::from_slice_strict(&bytes)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(statement.is_known_kind(), "{}", path.display());
        assert!(!statement.subject.is_empty(), "{}", path.display());
        let provenance = slsa::parse(&statement.predicate_type, &statement.predicate)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(!provenance.builder_id().is_empty());
        assert!(!provenance.build_type().is_empty());
        match provenance {
            Provenance::V1(p) => {
                assert_eq!(statement.predicate_type, slsa::PROVENANCE_V1);
                assert!(p.build_definition.build_type.starts_with("https://"));
                seen.1 += 1;
            }
            Provenance::V02(_) => {
                assert_eq!(statement.predicate_type, slsa::PROVENANCE_V02);
                seen.0 += 1;
            }
        }
    }
    assert!(seen.0 >= 4 && seen.1 >= 6, "{seen:?}");
}

#[test]
fn malformed_provenance_is_refused() {
    let v1 = slsa::PROVENANCE_V1;
    for bad in [
        serde_json::json!({}),
        serde_json::json!({"buildDefinition": {"buildType": "x"}, "runDetails": {"builder": {"id": "y"}}}),
        serde_json::json!({"buildDefinition": {"buildType": "x", "externalParameters": {}}, "runDetails": {"builder": {"id": ""}}}),
        serde_json::json!({"buildDefinition": {"buildType": "x", "externalParameters": {}}, "runDetails": {"builder": {"id": "y"}, "metadata": {"startedOn": "yesterday"}}}),
        serde_json::json!({"buildDefinition": {"buildType": "x", "externalParameters": {}, "resolvedDependencies": [{"name": "n"}]}, "runDetails": {"builder": {"id": "y"}}}),
    ] {
        assert!(slsa::parse(v1, &bad).is_err(), "{bad}");
    }
    assert!(slsa::parse(slsa::PROVENANCE_V02, &serde_json::json!({"buildType": "x"})).is_err());
}

//! The built-in scanner on a corpus the tests make (`tests/scan/corpus.py`: malicious pickles
//! for each dangerous import, protocols 0 to 5, raw and in PyTorch zips; benign pickles, a
//! checkpoint as torch.save lays it out, safetensors and GGUF files): every malicious file is
//! flagged, no benign one is, and every file PyPI's modelscan flags is flagged too. Then the
//! bad inputs the attestation issue names, and the result as an attestation.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use common::*;
use serde_json::Value;

/// Writes the corpus into `dir` with python3.
fn corpus(dir: &Path) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/scan/corpus.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(dir)
        .output()
        .expect("python3 is required");
    assert!(out.status.success(), "{}", stderr(&out));
}

/// Packs `dir` (every file a weight) and scans it; returns the exit code and the predicate.
fn pack_and_scan(ws: &Workspace, dir: &Path, tag: &str) -> (i32, Value) {
    let reference = ws.layout_ref(tag);
    let out = ws.pack_dir(dir, &reference, &["--weight", "**/*"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(&["scan", &reference, "--output", "json"]);
    let predicate =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&out)));
    (out.status.code().unwrap(), predicate)
}

/// The most severe finding per file path.
fn verdicts(predicate: &Value) -> BTreeMap<String, Option<String>> {
    let rank = |s: &str| {
        ["info", "low", "medium", "high", "critical"]
            .iter()
            .position(|x| *x == s)
    };
    predicate["result"]["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|layer| {
            let worst = layer["findings"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["severity"].as_str().unwrap().to_string())
                .max_by_key(|s| rank(s));
            (layer["path"].as_str().unwrap().to_string(), worst)
        })
        .collect()
}

fn flagged(severity: &Option<String>) -> bool {
    matches!(severity.as_deref(), Some("medium" | "high" | "critical"))
}

/// The verified scan attestations of `reference`, as `verify-attestation` reports them in JSON.
fn verified_scans(public: &Path, reference: &str) -> Value {
    let report = ok(&[
        "verify-attestation",
        "--key",
        public.to_str().unwrap(),
        "--type",
        "scan",
        reference,
        "--output",
        "json",
    ]);
    serde_json::from_str(&report).unwrap()
}

#[test]
fn the_corpus_is_judged_right_and_beyond_modelscan() {
    let ws = Workspace::new();
    let dir = ws.path("corpus");
    corpus(&dir);
    let (code, predicate) = pack_and_scan(&ws, &dir, "corpus");
    assert_eq!(code, 1, "a flagged model exits 1");
    assert_eq!(predicate["result"]["verdict"], "flagged");
    let verdicts = verdicts(&predicate);
    let malicious: Vec<_> = verdicts
        .iter()
        .filter(|(p, _)| p.starts_with("malicious/"))
        .collect();
    let benign: Vec<_> = verdicts
        .iter()
        .filter(|(p, _)| p.starts_with("benign/"))
        .collect();
    assert!(malicious.len() >= 200 && benign.len() >= 40, "{verdicts:?}");
    for (path, worst) in &malicious {
        assert!(flagged(worst), "{path} was not flagged: {worst:?}");
    }
    for (path, worst) in &benign {
        assert!(!flagged(worst), "{path} was flagged: {worst:?}");
    }
    // Imports of code execution are critical, not just reviewed.
    assert_eq!(
        verdicts["malicious/os-system-p0.pkl"].as_deref(),
        Some("critical")
    );
    assert_eq!(
        verdicts["malicious/builtins-eval-p5.pt"].as_deref(),
        Some("critical")
    );
    let formats: BTreeMap<String, String> = predicate["result"]["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["path"].as_str().unwrap().to_string(),
                l["format"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(formats["benign/checkpoint-p2.pt"], "pytorch-zip");
    assert_eq!(formats["benign/model.safetensors"], "safetensors");
    assert_eq!(formats["benign/model.gguf"], "gguf");
    assert_eq!(formats["benign/numbers-p0.pkl"], "pickle");

    // Every file modelscan flags, modelseal flags.
    let report = ws.path("modelscan.json");
    let ran = Command::new("modelscan")
        .arg("-p")
        .arg(&dir)
        .args(["-r", "json", "-o"])
        .arg(&report)
        .output()
        .expect("modelscan (PyPI) is required; .ci/run installs it");
    assert_eq!(ran.status.code(), Some(1), "{}", stderr(&ran));
    let report: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let theirs: std::collections::BTreeSet<String> = report["issues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            i["source"]
                .as_str()
                .unwrap()
                .split(':')
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(theirs.len() >= 150, "{theirs:?}");
    for path in &theirs {
        assert!(
            flagged(&verdicts[path]),
            "modelscan flags {path}, modelseal does not"
        );
    }
}

#[test]
fn hostile_files_are_reported_clearly_and_nothing_is_written() {
    let ws = Workspace::new();
    let dir = ws.path("hostile");
    std::fs::create_dir_all(&dir).unwrap();
    // A pickle cut off after an import, in the middle of its argument.
    std::fs::write(
        dir.join("truncated.pkl"),
        b"\x80\x02cposix\nsystem\n(X\x05\x00",
    )
    .unwrap();
    // A pickle nesting 10,000 lists deep.
    let mut deep = vec![0x80, 2];
    deep.extend(std::iter::repeat_n(b'(', 10_000));
    deep.extend(std::iter::repeat_n(b'l', 10_000));
    deep.push(b'.');
    std::fs::write(dir.join("deep.pkl"), deep).unwrap();
    // A safetensors header that claims 8 EiB.
    let mut huge = (8u64 << 60).to_le_bytes().to_vec();
    huge.extend_from_slice(b"{}");
    std::fs::write(dir.join("huge.safetensors"), huge).unwrap();
    // A zip bomb inside a .pt: 64 MiB of zeros deflated.
    let bomb = ws.path("bomb.py");
    std::fs::write(
        &bomb,
        "import sys, zipfile\nwith zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED) as z:\n    z.writestr('archive/data.pkl', bytes(64 << 20))\n",
    )
    .unwrap();
    let made = Command::new("python3")
        .arg(&bomb)
        .arg(dir.join("bomb.pt"))
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", stderr(&made));

    // Zips that hide a pickle from a scanner that goes by entry names: an upper-case name, and
    // a local name that differs from the one in the central directory loaders go by.
    let disguise = ws.path("disguise.py");
    std::fs::write(
        &disguise,
        r#"import pickle, os, sys, zipfile
class R:
    def __reduce__(self):
        return (os.system, ("echo pwned",))
evil = pickle.dumps(R(), protocol=0)
with zipfile.ZipFile(sys.argv[1] + "/upper.pt", "w") as z:
    z.writestr("archive/DATA.PKL", evil)
with zipfile.ZipFile(sys.argv[1] + "/renamed.pt", "w") as z:
    z.writestr("archive/data.pkl", evil)
raw = bytearray(open(sys.argv[1] + "/renamed.pt", "rb").read())
at = raw.index(b"archive/data.pkl")  # the local header's copy comes first
raw[at:at + 16] = b"archive/data.bin"
open(sys.argv[1] + "/renamed.pt", "wb").write(bytes(raw))
open(sys.argv[1] + "/notes.txt", "wb").write(evil)
"#,
    )
    .unwrap();
    let made = Command::new("python3")
        .arg(&disguise)
        .arg(&dir)
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", stderr(&made));
    // Binary content of a format the scanner does not read.
    std::fs::write(
        dir.join("weights.onnx"),
        [0x08u8, 0x07, 0xff, 0xfe, 0x00, 0x12],
    )
    .unwrap();

    let (code, predicate) = pack_and_scan(&ws, &dir, "hostile");
    assert_eq!(code, 1);
    let reasons: BTreeMap<String, String> = predicate["result"]["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["path"].as_str().unwrap().to_string(),
                l["findings"].to_string(),
            )
        })
        .collect();
    assert!(
        reasons["truncated.pkl"].contains("truncated"),
        "{reasons:?}"
    );
    assert!(reasons["truncated.pkl"].contains("posix"), "{reasons:?}");
    assert!(
        reasons["deep.pkl"].contains("nests 10000 levels"),
        "{reasons:?}"
    );
    assert!(
        reasons["huge.safetensors"].contains("over safetensors' limit"),
        "{reasons:?}"
    );
    assert!(reasons["bomb.pt"].contains("zip bomb"), "{reasons:?}");
    assert!(reasons["upper.pt"].contains("posix.system"), "{reasons:?}");
    assert!(
        reasons["renamed.pt"].contains("directory lists"),
        "{reasons:?}"
    );
    assert!(reasons["notes.txt"].contains("posix.system"), "{reasons:?}");
    assert!(
        reasons["weights.onnx"].contains("does not examine"),
        "{reasons:?}"
    );

    // A scan without --attest writes nothing.
    let before = snapshot(&ws.layout());
    let out = run(&["scan", &ws.layout_ref("hostile")]);
    assert_fails(&out, 1, "is flagged");
    assert!(stdout(&out).contains("critical") || stdout(&out).contains("high"));
    assert_eq!(snapshot(&ws.layout()), before);
}

#[test]
fn content_that_was_not_examined_is_never_called_clean() {
    let ws = Workspace::new();
    let dir = ws.path("mixed");
    copy_dir(&ws.model(), &dir);
    std::fs::write(
        dir.join("model.onnx"),
        [0x08u8, 0x07, 0xff, 0xfe, 0x00, 0x12],
    )
    .unwrap();
    let (code, predicate) = pack_and_scan(&ws, &dir, "mixed");
    assert_eq!(code, 0, "{predicate}");
    assert_eq!(predicate["result"]["verdict"], "incomplete");
}

#[test]
fn a_clean_scan_is_attested_and_verifies() {
    let ws = Workspace::new();
    ws.pack("v1");
    let layout = ws.layout_ref("v1");
    let (key, public) = keys(&ws, "signer");
    // A key without --attest would sign nothing: said, not passed over; nothing is attached.
    let before = snapshot(&ws.layout());
    let out = run(&["scan", &layout, "--key", key.to_str().unwrap()]);
    assert_fails(&out, 2, "add --attest");
    let out = run(&[
        "provenance",
        &layout,
        "--builder-id",
        "https://ci.example.com",
        "--key",
        key.to_str().unwrap(),
    ]);
    assert_fails(&out, 2, "add --attest");
    assert_eq!(snapshot(&ws.layout()), before);
    let out = run(&["scan", &layout, "--attest", "--key", key.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("clean"), "{}", stdout(&out));
    let report = verified_scans(&public, &layout);
    let predicate = &report["attestations"][0]["statement"]["predicate"];
    assert_eq!(predicate["result"]["verdict"], "clean");
    assert_eq!(predicate["scanner"]["name"], "modelseal");
    assert!(
        predicate["metadata"]["scanStartedOn"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
}

/// The published schema of the scan predicate.
fn schema_validator() -> jsonschema::Validator {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/scan-predicate-v1.schema.json"
    ))
    .unwrap();
    let schema: Value = serde_json::from_str(&text).unwrap();
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap()
}

#[test]
fn scan_results_follow_the_published_schema() {
    let validator = schema_validator();
    let ws = Workspace::new();
    let dir = ws.path("corpus");
    corpus(&dir);
    let (_, flagged) = pack_and_scan(&ws, &dir, "corpus");
    let (_, clean) = pack_and_scan(&ws, &ws.model(), "clean");
    for predicate in [&flagged, &clean] {
        let errors: Vec<String> = validator
            .iter_errors(predicate)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{errors:?}");
    }
    assert_eq!(clean["result"]["verdict"], "clean");
    // The schema is not vacuous.
    let mut bad = clean.clone();
    bad["result"]["verdict"] = Value::from("fine");
    bad["result"]["layers"][0]["findings"] = serde_json::json!([{"severity": "dire"}]);
    assert!(validator.iter_errors(&bad).count() >= 2);
}

#[test]
fn reports_of_modelscan_and_picklescan_become_scan_attestations() {
    let ws = Workspace::new();
    let dir = ws.path("corpus");
    corpus(&dir);
    let reference = ws.layout_ref("corpus");
    assert!(
        ws.pack_dir(&dir, &reference, &["--weight", "**/*"])
            .status
            .success()
    );
    let (key, public) = keys(&ws, "signer");
    let key = key.to_str().unwrap();

    let modelscan_report = ws.path("modelscan.json");
    Command::new("modelscan")
        .arg("-p")
        .arg(&dir)
        .args(["-r", "json", "-o"])
        .arg(&modelscan_report)
        .output()
        .expect("modelscan (PyPI) is required; .ci/run installs it");
    let picklescan = Command::new("picklescan")
        .arg("-p")
        .arg(&dir)
        .output()
        .expect("picklescan (PyPI) is required; .ci/run installs it");
    let picklescan_report = ws.path("picklescan.txt");
    std::fs::write(&picklescan_report, &picklescan.stdout).unwrap();

    for (kind, report, name) in [
        ("modelscan", &modelscan_report, "modelscan"),
        ("picklescan", &picklescan_report, "picklescan"),
    ] {
        let spec = format!("{kind}:{}", report.display());
        ok(&[
            "attest", "--key", key, "--type", "scan", "--import", &spec, &reference,
        ]);
        let verified = verified_scans(&public, &reference);
        let predicate = verified["attestations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| &a["statement"]["predicate"])
            .find(|p| p["scanner"]["name"] == name)
            .unwrap_or_else(|| panic!("{verified}"))
            .clone();
        assert_eq!(predicate["result"]["verdict"], "flagged", "{kind}");
        assert!(
            predicate["scanner"]["report"]
                .as_str()
                .unwrap()
                .starts_with("sha256:")
        );
        let flagged = predicate["result"]["layers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| !l["findings"].as_array().unwrap().is_empty())
            .count();
        assert!(flagged >= 150, "{kind}: {flagged}");
        assert!(
            schema_validator().iter_errors(&predicate).next().is_none(),
            "{kind}"
        );
    }

    // A report that covers none of the files cannot make the verdict clean.
    let empty = ws.path("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let empty_report = ws.path("empty.json");
    Command::new("modelscan")
        .arg("-p")
        .arg(&empty)
        .args(["-r", "json", "-o"])
        .arg(&empty_report)
        .output()
        .unwrap();
    assert!(
        empty_report.exists(),
        "modelscan writes a report for an empty directory"
    );
    let spec = format!("modelscan:{}", empty_report.display());
    let out = run(&[
        "attest", "--key", key, "--type", "scan", "--import", &spec, &reference, "--output", "json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let verified = verified_scans(&public, &reference);
    let verdicts: Vec<&Value> = verified["attestations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["statement"]["predicate"]["result"]["verdict"])
        .collect();
    assert!(verdicts.iter().all(|v| *v != "clean"), "{verdicts:?}");

    // A report about other files, or not a report at all, attaches nothing.
    let before = snapshot(&ws.layout());
    let other = ws.path("other.json");
    std::fs::write(
        &other,
        r#"{"summary":{"modelscan_version":"0.8.8"},"issues":[{"description":"x","source":"elsewhere.pkl","severity":"CRITICAL"}],"errors":[]}"#,
    )
    .unwrap();
    let spec = format!("modelscan:{}", other.display());
    let out = run(&[
        "attest", "--key", key, "--type", "scan", "--import", &spec, &reference,
    ]);
    assert_fails(&out, 2, "not a file of this ModelPack");
    let spec = format!("picklescan:{}", other.display());
    let out = run(&[
        "attest", "--key", key, "--type", "scan", "--import", &spec, &reference,
    ]);
    assert_fails(&out, 2, "not a picklescan report");
    let spec = format!("modelscan:{}", modelscan_report.display());
    let out = run(&[
        "attest", "--key", key, "--type", "vuln", "--import", &spec, &reference,
    ]);
    assert_fails(&out, 2, "--type scan");
    assert_eq!(snapshot(&ws.layout()), before);
}

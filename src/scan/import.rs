//! Other scanners' reports turned into the scan predicate, so that a pipeline can keep its
//! scanner and still attach a signed, uniform result: modelscan's JSON report and
//! picklescan's text output. Each finding is tied to the ModelPack layer whose file the report
//! names; a report that names a file the ModelPack does not hold is refused.

use serde::Deserialize;

use super::{Finding, LayerScan, Scan, Scanner, Severity};
use crate::modelpack::ModelPack;
use crate::oci::Digest;

/// The largest report read.
pub const MAX_REPORT_BYTES: u64 = 64 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportKind {
    /// `modelscan -r json -o REPORT.json`.
    Modelscan,
    /// What `picklescan -p DIR` prints.
    Picklescan,
}

impl std::str::FromStr for ReportKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "modelscan" => Ok(ReportKind::Modelscan),
            "picklescan" => Ok(ReportKind::Picklescan),
            other => Err(format!(
                "unknown report kind {other:?}; choose modelscan or picklescan"
            )),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("the report is not a {kind} report: {reason}")]
    Unreadable { kind: &'static str, reason: String },
    #[error("the report names {0:?}, which is not a file of this ModelPack")]
    UnknownFile(String),
}

#[derive(Deserialize)]
struct ModelscanReport {
    summary: ModelscanSummary,
    #[serde(default)]
    issues: Vec<ModelscanIssue>,
    #[serde(default)]
    errors: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct ModelscanSummary {
    #[serde(default)]
    modelscan_version: Option<String>,
    #[serde(default)]
    scanned: Option<ModelscanScanned>,
}

#[derive(Deserialize)]
struct ModelscanScanned {
    #[serde(default)]
    scanned_files: Vec<String>,
}

/// What a report says it covered: the files it scanned (`None` when it does not list them),
/// and how many.
struct Coverage {
    files: Option<Vec<String>>,
    count: Option<usize>,
}

/// File name endings of model formats a report is expected to cover.
const MODEL_ENDINGS: [&str; 15] = [
    ".pkl", ".pickle", ".pt", ".pth", ".bin", ".ckpt", ".joblib", ".dill", ".dat", ".data", ".npy",
    ".npz", ".h5", ".keras", ".pb",
];

fn is_model_file(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    MODEL_ENDINGS.iter().any(|e| lower.ends_with(e))
}

#[derive(Deserialize)]
struct ModelscanIssue {
    description: String,
    source: String,
    severity: String,
}

/// Reads a report of `kind` about `pack`'s files.
pub fn import(kind: ReportKind, bytes: &[u8], pack: &ModelPack) -> Result<Scan, ImportError> {
    let mut scan = Scan {
        scanner: Scanner {
            uri: String::new(),
            name: String::new(),
            version: "unknown".into(),
            report: Some(Digest::sha256_of(bytes).to_string()),
        },
        subject: pack.descriptor.digest.clone(),
        layers: pack
            .layers
            .iter()
            .map(|l| LayerScan {
                digest: l.descriptor.digest.clone(),
                path: l.filepath.clone(),
                media_type: l.descriptor.media_type.clone(),
                format: "reported",
                findings: Vec::new(),
            })
            .collect(),
    };
    let (findings, coverage) = match kind {
        ReportKind::Modelscan => modelscan(bytes, &mut scan.scanner)?,
        ReportKind::Picklescan => picklescan(bytes, &mut scan.scanner)?,
    };
    let mut mentioned = vec![false; scan.layers.len()];
    for (source, finding) in findings {
        let index = layer_for(&scan.layers, &source)
            .ok_or_else(|| ImportError::UnknownFile(source.clone()))?;
        if let (Some(layer), Some(seen)) = (scan.layers.get_mut(index), mentioned.get_mut(index)) {
            layer.findings.push(finding);
            *seen = true;
        }
    }
    let covered: Vec<bool> = match &coverage.files {
        Some(files) => {
            let mut covered = vec![false; scan.layers.len()];
            for file in files {
                let (path, _) = split_member(file);
                if let Some(seen) = layer_for(&scan.layers, &path).and_then(|i| covered.get_mut(i))
                {
                    *seen = true;
                }
            }
            covered
        }
        None => {
            // Only a count: every model file counts as covered if the count allows it.
            let model_files = scan
                .layers
                .iter()
                .filter(|l| l.path.as_deref().is_some_and(is_model_file))
                .count();
            let all = coverage.count.is_some_and(|n| n >= model_files);
            mentioned.iter().map(|m| *m || all).collect()
        }
    };
    let name = scan.scanner.name.clone();
    for (layer, covered) in scan.layers.iter_mut().zip(covered) {
        if !covered && layer.path.as_deref().is_some_and(is_model_file) {
            layer.format = "not-covered";
            layer.findings.push(Finding {
                severity: Severity::Low,
                member: None,
                reason: format!(
                    "{name} does not say it scanned this file: the verdict cannot be clean"
                ),
            });
        }
    }
    Ok(scan)
}

/// The layer whose file path the report's path names: the same, or the report's path ends
/// with `/` and the layer's path (scanners print the paths they were given).
fn layer_for(layers: &[LayerScan], source: &str) -> Option<usize> {
    let source = source.trim_start_matches("./");
    layers
        .iter()
        .enumerate()
        .filter(|(_, l)| {
            l.path.as_deref().is_some_and(|p| {
                source == p
                    || source
                        .strip_suffix(p)
                        .is_some_and(|rest| rest.ends_with('/'))
            })
        })
        .max_by_key(|(_, l)| l.path.as_deref().map_or(0, str::len))
        .map(|(index, _)| index)
}

/// `path[:member]` split at the first colon after the file name.
fn split_member(source: &str) -> (String, Option<String>) {
    match source.split_once(':') {
        Some((path, member)) if !member.is_empty() => (path.to_string(), Some(member.to_string())),
        _ => (source.to_string(), None),
    }
}

type Reported = (Vec<(String, Finding)>, Coverage);

fn modelscan(bytes: &[u8], scanner: &mut Scanner) -> Result<Reported, ImportError> {
    let unreadable = |reason: String| ImportError::Unreadable {
        kind: "modelscan",
        reason,
    };
    let report: ModelscanReport = crate::json::from_slice_strict(bytes).map_err(unreadable)?;
    scanner.uri = "https://github.com/protectai/modelscan".into();
    scanner.name = "modelscan".into();
    if let Some(version) = report.summary.modelscan_version {
        scanner.version = version;
    }
    let coverage = Coverage {
        files: report.summary.scanned.map(|s| s.scanned_files),
        count: None,
    };
    let mut findings = Vec::new();
    for issue in report.issues {
        let severity = match issue.severity.to_ascii_uppercase().as_str() {
            "CRITICAL" => Severity::Critical,
            "HIGH" => Severity::High,
            "MEDIUM" => Severity::Medium,
            "LOW" => Severity::Low,
            other => return Err(unreadable(format!("unknown severity {other:?}"))),
        };
        let (path, member) = split_member(&issue.source);
        findings.push((
            path,
            Finding {
                severity,
                member,
                reason: issue.description,
            },
        ));
    }
    for error in report.errors {
        let field = |name: &str| error.get(name).and_then(serde_json::Value::as_str);
        let source = field("source").unwrap_or_default();
        let (path, member) = split_member(source);
        let message = field("description")
            .or_else(|| field("message"))
            .unwrap_or("an error");
        findings.push((
            path,
            Finding {
                severity: Severity::High,
                member,
                reason: format!("modelscan could not scan it: {message}"),
            },
        ));
    }
    Ok((findings, coverage))
}

fn picklescan(bytes: &[u8], scanner: &mut Scanner) -> Result<Reported, ImportError> {
    let text = std::str::from_utf8(bytes).map_err(|e| ImportError::Unreadable {
        kind: "picklescan",
        reason: e.to_string(),
    })?;
    if !text.contains("----------- SCAN SUMMARY -----------") {
        return Err(ImportError::Unreadable {
            kind: "picklescan",
            reason: "it has no SCAN SUMMARY".into(),
        });
    }
    scanner.uri = "https://github.com/mmaitre314/picklescan".into();
    scanner.name = "picklescan".into();
    let mut findings = Vec::new();
    let mut count = None;
    for line in text.lines() {
        if let Some(n) = line.strip_prefix("Scanned files: ") {
            count = n.trim().parse().ok();
            continue;
        }
        // `WARNING: could not parse PATH as pickle: REASON`
        if let Some(rest) = line.strip_prefix("WARNING: could not parse ")
            && let Some((source, reason)) = rest.split_once(" as pickle: ")
        {
            let (path, member) = split_member(source);
            findings.push((
                path,
                Finding {
                    severity: Severity::High,
                    member,
                    reason: format!("picklescan could not parse it as a pickle: {reason}"),
                },
            ));
            continue;
        }
        // `PATH[:MEMBER]: dangerous import 'module name' FOUND`
        let Some(body) = line.strip_suffix(" FOUND") else {
            continue;
        };
        let (severity, kind) = if body.contains(": dangerous import '") {
            (Severity::Critical, "dangerous")
        } else if body.contains(": suspicious import '") {
            (Severity::Medium, "suspicious")
        } else {
            continue;
        };
        let marker = format!(": {kind} import '");
        let Some((source, import)) = body.rsplit_once(&marker) else {
            continue;
        };
        let import = import.trim_end_matches('\'');
        let (path, member) = split_member(source);
        findings.push((
            path,
            Finding {
                severity,
                member,
                reason: format!("picklescan found a {kind} import: {import}"),
            },
        ));
    }
    Ok((findings, Coverage { files: None, count }))
}

//! The built-in model scanner: every layer of a ModelPack streamed once, its content checked
//! against its digest, and its format examined without loading anything: pickles (raw, or in
//! PyTorch's zip archives) for the callables they would import, safetensors and GGUF headers
//! for soundness. Formats it cannot read are reported as such.

pub mod gguf;
pub mod import;
pub mod pickle;
pub mod policy;
pub mod safetensors;

use std::io::{self, BufRead, Read};

use serde::Serialize;

use crate::modelpack::ModelPack;
use crate::oci::{Digest, Store, StoreError};

/// The predicate type of modelseal's scan results; `docs/scan-predicate-v1.schema.json` is its
/// schema.
pub const SCAN_PREDICATE_TYPE: &str = "https://modelseal.dev/attestations/scan/v1";
/// The largest pickle inside an archive that is analysed (decompressed).
const MAX_ARCHIVED_PICKLE: u64 = 256 << 20;
/// A compression ratio above this, on an entry over 1 MiB, marks a zip bomb.
const BOMB_RATIO: u64 = 200;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// Findings from this severity on flag the model.
    pub fn flags(self) -> bool {
        self >= Severity::Medium
    }
}

/// One thing the scanner found.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub severity: Severity,
    /// The entry inside an archive the finding is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
    pub reason: String,
}

/// What the scanner found in one layer.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LayerScan {
    pub digest: Digest,
    pub path: Option<String>,
    pub media_type: String,
    /// `pickle`, `pytorch-zip`, `zip`, `safetensors`, `gguf` or `unrecognised`.
    pub format: &'static str,
    pub findings: Vec<Finding>,
}

/// Who scanned.
#[derive(Clone, Debug, Serialize)]
pub struct Scanner {
    pub uri: String,
    pub name: String,
    pub version: String,
    /// For an imported report: the SHA-256 of the report as read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<String>,
}

impl Scanner {
    /// The built-in scanner.
    pub fn builtin() -> Scanner {
        Scanner {
            uri: "https://modelseal.dev/scanner".into(),
            name: "modelseal".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            report: None,
        }
    }
}

/// The whole scan of a ModelPack.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Scan {
    pub scanner: Scanner,
    pub subject: Digest,
    pub layers: Vec<LayerScan>,
}

impl Scan {
    pub fn highest(&self) -> Option<Severity> {
        self.findings().map(|(_, f)| f.severity).max()
    }

    pub fn is_flagged(&self) -> bool {
        self.highest().is_some_and(Severity::flags)
    }

    pub fn findings(&self) -> impl Iterator<Item = (&LayerScan, &Finding)> {
        self.layers
            .iter()
            .flat_map(|l| l.findings.iter().map(move |f| (l, f)))
    }

    /// The scan predicate, as documented in `docs/scan-predicate-v1.schema.json`.
    pub fn predicate(&self, started: &str, finished: &str) -> serde_json::Value {
        let count = |s: Severity| self.findings().filter(|(_, f)| f.severity == s).count();
        serde_json::json!({
            "scanner": self.scanner,
            "metadata": {"scanStartedOn": started, "scanFinishedOn": finished},
            "result": {
                "verdict": if self.is_flagged() { "flagged" } else { "clean" },
                "highestSeverity": self.highest(),
                "counts": {
                    "critical": count(Severity::Critical),
                    "high": count(Severity::High),
                    "medium": count(Severity::Medium),
                    "low": count(Severity::Low),
                    "info": count(Severity::Info),
                },
                "layers": self.layers,
            },
        })
    }
}

/// Scans every layer of `pack`, each read to its end so its digest is checked; layers are
/// scanned in parallel, one per core.
pub fn scan(store: &dyn Store, pack: &ModelPack) -> Result<Scan, StoreError> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let workers = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .min(pack.layers.len().max(1));
    let results: Vec<Vec<(usize, Result<LayerScan, StoreError>)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let index = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(layer) = pack.layers.get(index) else {
                            return done;
                        };
                        let result = scan_one(store, layer);
                        let failed = result.is_err();
                        done.push((index, result));
                        if failed {
                            return done;
                        }
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let mut scanned: Vec<(usize, LayerScan)> = Vec::new();
    for (index, result) in results.into_iter().flatten() {
        scanned.push((index, result?));
    }
    if scanned.len() != pack.layers.len() {
        return Err(StoreError::Unsupported(
            "a scanning thread stopped early".into(),
        ));
    }
    scanned.sort_by_key(|(index, _)| *index);
    Ok(Scan {
        scanner: Scanner::builtin(),
        subject: pack.descriptor.digest.clone(),
        layers: scanned.into_iter().map(|(_, layer)| layer).collect(),
    })
}

fn scan_one(store: &dyn Store, layer: &crate::modelpack::Layer) -> Result<LayerScan, StoreError> {
    let what = format!("layer {}", layer.descriptor.digest);
    let reader = store.open_blob(&layer.descriptor)?;
    let mut input = io::BufReader::with_capacity(1 << 20, reader);
    let (format, findings) = scan_layer(
        &mut input,
        layer.descriptor.size,
        &layer.descriptor.media_type,
        layer.filepath.as_deref(),
    )
    .map_err(|e| StoreError::io(what.clone(), e))?;
    // The rest is read too: only content that matched its digest was scanned.
    io::copy(&mut input, &mut io::sink()).map_err(|e| StoreError::io(what, e))?;
    Ok(LayerScan {
        digest: layer.descriptor.digest.clone(),
        path: layer.filepath.clone(),
        media_type: layer.descriptor.media_type.clone(),
        format,
        findings,
    })
}

/// File name endings that mean a pickle (PyTorch, joblib, dill and plain pickles): a pickle of
/// protocol 0 or 1 has no magic bytes to recognise it by.
const PICKLE_ENDINGS: [&str; 10] = [
    ".pkl", ".pickle", ".pt", ".pth", ".bin", ".ckpt", ".joblib", ".dill", ".dat", ".data",
];

/// Finds the format of one layer from its first bytes (and its file name, for old pickles)
/// and examines it.
pub fn scan_layer(
    input: &mut impl BufRead,
    size: u64,
    media_type: &str,
    path: Option<&str>,
) -> io::Result<(&'static str, Vec<Finding>)> {
    let head = input.fill_buf()?;
    let head: Vec<u8> = head.iter().take(16).copied().collect();
    if media_type.contains(".tar") {
        return Ok((
            "tar",
            vec![info(
                "tar layers are not scanned yet: the files inside were not examined",
            )],
        ));
    }
    if head.starts_with(b"PK\x03\x04") {
        return scan_zip(input);
    }
    if head.starts_with(b"GGUF") {
        let problems = gguf::check(input, size)?;
        return Ok((
            "gguf",
            problems.into_iter().map(|p| high(None, p)).collect(),
        ));
    }
    if looks_like_safetensors(&head) {
        let problems = safetensors::check(input, size)?;
        return Ok((
            "safetensors",
            problems.into_iter().map(|p| high(None, p)).collect(),
        ));
    }
    let named_pickle = path.is_some_and(|p| {
        let lower = p.to_ascii_lowercase();
        PICKLE_ENDINGS.iter().any(|e| lower.ends_with(e))
    });
    if head.first() == Some(&0x80) || named_pickle {
        return Ok(("pickle", pickle_findings(input, None)?));
    }
    Ok((
        "unrecognised",
        vec![info(
            "not a model format modelseal examines (not a pickle, PyTorch archive, safetensors or GGUF file)",
        )],
    ))
}

/// A safetensors file starts with a little-endian header length and then `{`.
fn looks_like_safetensors(head: &[u8]) -> bool {
    match (head.get(..8), head.get(8)) {
        (Some(length), Some(b'{')) => {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(length);
            u64::from_le_bytes(bytes) > 1
        }
        _ => false,
    }
}

pub(crate) fn info(reason: &str) -> Finding {
    Finding {
        severity: Severity::Info,
        member: None,
        reason: reason.to_string(),
    }
}

fn high(member: Option<&str>, reason: String) -> Finding {
    Finding {
        severity: Severity::High,
        member: member.map(str::to_string),
        reason,
    }
}

/// The findings for one pickle stream.
fn pickle_findings(input: impl Read, member: Option<&str>) -> io::Result<Vec<Finding>> {
    let analysis = pickle::analyse(input)?;
    let mut findings = Vec::new();
    for import in &analysis.imports {
        if let Some((severity, reason)) = policy::judge(import) {
            findings.push(Finding {
                severity,
                member: member.map(str::to_string),
                reason,
            });
        }
    }
    for problem in analysis.problems {
        findings.push(high(
            member,
            format!("{problem}; the pickle cannot be trusted"),
        ));
    }
    if analysis.deepest_nesting > pickle::DEEP_NESTING {
        findings.push(Finding {
            severity: Severity::Medium,
            member: member.map(str::to_string),
            reason: format!(
                "it nests {} levels deep, which crashes Python's unpickler",
                analysis.deepest_nesting
            ),
        });
    }
    Ok(findings)
}

/// A zip archive, as PyTorch saves checkpoints: every `.pkl` entry analysed, streaming.
fn scan_zip(input: &mut impl BufRead) -> io::Result<(&'static str, Vec<Finding>)> {
    let mut findings = Vec::new();
    let mut pytorch = false;
    loop {
        let entry = match zip::read::read_zipfile_from_stream(input) {
            Ok(Some(entry)) => entry,
            Ok(None) => break,
            Err(e) => {
                findings.push(high(None, format!("the archive cannot be read: {e}")));
                break;
            }
        };
        let name = match entry.name() {
            Ok(name) => name.to_string(),
            Err(e) => {
                findings.push(high(None, format!("an entry's name cannot be read: {e}")));
                continue;
            }
        };
        if !name.ends_with(".pkl") {
            continue;
        }
        pytorch |= name.ends_with("data.pkl");
        let (size, packed) = (entry.size(), entry.compressed_size());
        if size > MAX_ARCHIVED_PICKLE
            || (size > 1 << 20 && size.checked_div(packed).unwrap_or(u64::MAX) > BOMB_RATIO)
        {
            findings.push(high(
                Some(&name),
                format!("it unpacks to {size} bytes from {packed}: not analysed (a zip bomb?)"),
            ));
            continue;
        }
        findings.extend(pickle_findings(
            entry.take(MAX_ARCHIVED_PICKLE),
            Some(&name),
        )?);
    }
    Ok((if pytorch { "pytorch-zip" } else { "zip" }, findings))
}

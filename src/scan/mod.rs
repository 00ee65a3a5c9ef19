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

    /// Whether some layer's content was not examined (a format modelseal does not read).
    pub fn is_incomplete(&self) -> bool {
        self.layers
            .iter()
            .any(|l| matches!(l.format, "tar" | "unrecognised" | "not-covered"))
    }

    /// `flagged`, else `incomplete`, else `clean`.
    pub fn verdict(&self) -> &'static str {
        if self.is_flagged() {
            "flagged"
        } else if self.is_incomplete() {
            "incomplete"
        } else {
            "clean"
        }
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
                "verdict": self.verdict(),
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
            vec![not_examined(
                "a tar layer: the files inside were not examined (tar layers are not scanned yet)",
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
    if is_text(&head_text(input)?) {
        // A pickle of protocol 0 is text: whatever walks as a pickle is judged as one.
        let analysis = pickle::analyse(&mut *input)?;
        if analysis.pickles > 0 || !analysis.imports.is_empty() {
            return Ok(("pickle", judged(analysis, None)));
        }
        return Ok((
            "text",
            vec![info("text, not a model format: nothing to examine")],
        ));
    }
    Ok((
        "unrecognised",
        vec![not_examined(
            "binary content of a format modelseal does not examine (not a pickle, PyTorch archive, safetensors or GGUF file)",
        )],
    ))
}

/// Up to 4 KiB of what comes next, without consuming it.
fn head_text(input: &mut impl BufRead) -> io::Result<Vec<u8>> {
    Ok(input.fill_buf()?.iter().take(4096).copied().collect())
}

/// Whether bytes read as UTF-8 text (a character cut at the end allowed).
fn is_text(head: &[u8]) -> bool {
    match std::str::from_utf8(head) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none() && e.valid_up_to() > 0,
    }
}

/// A layer whose content was not examined: not a risk found, but the verdict cannot be clean.
fn not_examined(reason: &str) -> Finding {
    Finding {
        severity: Severity::Low,
        member: None,
        reason: reason.to_string(),
    }
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
    Ok(judged(pickle::analyse(input)?, member))
}

/// What a pickle analysis means.
fn judged(analysis: pickle::Analysis, member: Option<&str>) -> Vec<Finding> {
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
            severity: Severity::Low,
            member: member.map(str::to_string),
            reason: format!(
                "it nests {} levels deep; code that walks what it loads may recurse that far",
                analysis.deepest_nesting
            ),
        });
    }
    findings
}

/// A zip archive, as PyTorch saves checkpoints: every `.pkl` entry (any case) and every
/// entry that starts like a pickle analysed, streaming; then the central directory, which
/// loaders go by, held to the entries that were read.
fn scan_zip(input: &mut impl BufRead) -> io::Result<(&'static str, Vec<Finding>)> {
    let mut findings = Vec::new();
    let mut names = Vec::new();
    let mut pytorch = false;
    let mut ended_at_directory = false;
    loop {
        let mut entry = match zip::read::read_zipfile_from_stream(input) {
            Ok(Some(entry)) => entry,
            Ok(None) => {
                ended_at_directory = true;
                break;
            }
            Err(e) => {
                findings.push(high(None, format!("the archive cannot be read: {e}")));
                break;
            }
        };
        let name = entry
            .name()
            .map(|n| n.to_string())
            .unwrap_or_else(|_| String::from_utf8_lossy(entry.name_raw()).into_owned());
        names.push(name.clone());
        let lower = name.to_ascii_lowercase();
        pytorch |= lower.ends_with("data.pkl");
        let mut first = [0u8; 1];
        let started = match entry.read(&mut first) {
            Ok(n) => n,
            Err(e) => {
                findings.push(entry_failure(&name, e)?);
                continue;
            }
        };
        let is_pickle = lower.ends_with(".pkl") || (started == 1 && first == [0x80]);
        if !is_pickle {
            continue;
        }
        let (size, packed) = (entry.size(), entry.compressed_size());
        let bomb = size > 1 << 20 && size.checked_div(packed).unwrap_or(u64::MAX) > BOMB_RATIO;
        if size > MAX_ARCHIVED_PICKLE || bomb {
            findings.push(high(
                Some(&name),
                format!("it unpacks to {size} bytes from {packed}: not analysed (a zip bomb?)"),
            ));
            continue;
        }
        let content = first
            .get(..started)
            .unwrap_or_default()
            .chain(entry.take(MAX_ARCHIVED_PICKLE));
        match pickle::analyse(content) {
            Ok(analysis) => findings.extend(judged(analysis, Some(&name))),
            Err(e) => findings.push(entry_failure(&name, e)?),
        }
    }
    if ended_at_directory && !names.is_empty() {
        findings.extend(check_directory(input, &names)?);
    }
    Ok((if pytorch { "pytorch-zip" } else { "zip" }, findings))
}

/// A failure reading an entry's content is a finding about the archive; a failure of the
/// layer itself (its digest, the store) stops the scan.
fn entry_failure(name: &str, error: io::Error) -> io::Result<Finding> {
    let from_store = error
        .get_ref()
        .is_some_and(|inner| inner.downcast_ref::<StoreError>().is_some());
    if from_store {
        return Err(error);
    }
    Ok(high(
        Some(name),
        format!("the entry cannot be read: {error}"),
    ))
}

/// The most central directory entries read.
const MAX_DIRECTORY_ENTRIES: usize = 1 << 20;
const CENTRAL_HEADER: u32 = 0x0201_4b50;

fn le16(bytes: &[u8], at: usize) -> u64 {
    bytes
        .get(at..at.saturating_add(2))
        .and_then(|b| <[u8; 2]>::try_from(b).ok())
        .map_or(0, |b| u64::from(u16::from_le_bytes(b)))
}

/// Reads the central directory (its first signature already consumed by the stream reader)
/// and reports every name it holds that the entries read did not, and a count that differs:
/// a loader that goes by the directory would load something this scan did not see.
fn check_directory(input: &mut impl Read, names: &[String]) -> io::Result<Vec<Finding>> {
    let mut listed = Vec::new();
    loop {
        let mut fixed = [0u8; 42];
        if input.read_exact(&mut fixed).is_err() {
            break;
        }
        let name_len = le16(&fixed, 24);
        let skip = le16(&fixed, 26).saturating_add(le16(&fixed, 28));
        let mut name = vec![0u8; usize::try_from(name_len).unwrap_or(0)];
        if input.read_exact(&mut name).is_err() {
            break;
        }
        listed.push(String::from_utf8_lossy(&name).into_owned());
        if io::copy(&mut input.take(skip), &mut io::sink())? < skip
            || listed.len() >= MAX_DIRECTORY_ENTRIES
        {
            break;
        }
        let mut signature = [0u8; 4];
        if input.read_exact(&mut signature).is_err()
            || u32::from_le_bytes(signature) != CENTRAL_HEADER
        {
            break;
        }
    }
    let mut findings = Vec::new();
    for name in listed.iter().filter(|n| !names.contains(n)) {
        findings.push(high(
            Some(name),
            "the archive's directory lists this entry, but no such entry was found in the archive: a loader would read content this scan did not see".into(),
        ));
    }
    if listed.len() != names.len() {
        findings.push(high(
            None,
            format!(
                "the archive's directory lists {} entries, but the archive holds {}",
                listed.len(),
                names.len()
            ),
        ));
    }
    Ok(findings)
}

//! Packing a directory into a ModelPack: one raw layer per file, hashed and copied as a stream,
//! in parallel across files, in bounded memory.

use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use glob::Pattern;

use super::classify::{Override, classify, infer_format};
use super::config::{MODELFS_TYPE_LAYERS, ModelConfig, ModelDescriptor, ModelFs, ModelProperties};
use super::mediatype::{ARTIFACT_TYPE_CNCF, CONFIG_CNCF, Family, LayerType, Packing, Role};
use super::validate::{FileMetadata, MAX_LAYERS, check_relative_path};
use crate::oci::{
    Annotations, Descriptor, Digest, ImageManifest, MEDIA_TYPE_IMAGE_MANIFEST, ManifestPush, Store,
    StoreError, TagCondition, limits,
};

/// The modification time recorded for every file unless times are asked for, so that the same
/// directory always packs to the same digest.
pub const REPRODUCIBLE_MTIME: &str = "1970-01-01T00:00:00Z";

#[derive(Debug, thiserror::Error)]
pub enum PackError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} is not a directory", .0.display())]
    NotADirectory(PathBuf),
    #[error("{} has no files to pack (hidden files are skipped unless --include-hidden is given)", .0.display())]
    Empty(PathBuf),
    #[error(
        "{} is a symbolic link to {}, outside the model directory; copy the file in, or pass --follow-symlinks to pack what it points to",
        link.display(), target.display()
    )]
    SymlinkOutside { link: PathBuf, target: PathBuf },
    #[error("{} is a symbolic link to a directory; only links to files are followed", .0.display())]
    SymlinkToDirectory(PathBuf),
    #[error("{} is not a regular file (a device, FIFO or socket cannot be packed)", .0.display())]
    SpecialFile(PathBuf),
    #[error("{} cannot be read: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{}: the file name is not valid UTF-8, which ModelPack file paths must be", .0.display())]
    NotUtf8(PathBuf),
    #[error(
        "no role is known for {}; say which with --weight, --weight-config, --doc, --code or --dataset PATTERN, or pass --unknown-as ROLE",
        .0.join(", ")
    )]
    Unclassified(Vec<String>),
    #[error("{} changed while it was being packed; nothing was tagged. Pack again once the file is stable.", .0.display())]
    Changed(PathBuf),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> PackError + '_ {
    move |source| PackError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What to pack and how.
#[derive(Clone, Debug, Default)]
pub struct PackOptions {
    pub descriptor: ModelDescriptor,
    pub properties: ModelProperties,
    pub overrides: Vec<Override>,
    /// The role of files the mapping does not know; their layers are marked untested.
    pub unknown_as: Option<Role>,
    pub excludes: Vec<Pattern>,
    pub include_hidden: bool,
    pub follow_symlinks: bool,
    /// Record the creation time and the files' modification times and modes (not reproducible).
    pub timestamps: bool,
    /// Files hashed at once; 0 means one per available core.
    pub threads: usize,
}

/// A file found in the directory, classified and checked, not yet read.
#[derive(Clone, Debug)]
pub struct PlannedFile {
    pub relative_path: String,
    pub path: PathBuf,
    pub role: Role,
    pub untested: bool,
    pub size: u64,
    mode: u32,
    uid: u32,
    gid: u32,
    mtime_seconds: i64,
    mtime_nanos: i64,
    inode: (u64, u64),
}

/// The result of a pack.
#[derive(Clone, Debug)]
pub struct Packed {
    pub manifest: Descriptor,
    pub config: Descriptor,
    pub layers: Vec<(PlannedFile, Descriptor)>,
}

/// Walks, classifies and checks every file; reads nothing and writes nothing.
pub fn plan(dir: &Path, options: &PackOptions) -> Result<Vec<PlannedFile>, PackError> {
    let meta = fs::metadata(dir).map_err(io_error(dir))?;
    if !meta.is_dir() {
        return Err(PackError::NotADirectory(dir.to_path_buf()));
    }
    let root = fs::canonicalize(dir).map_err(io_error(dir))?;
    let mut files = Vec::new();
    walk(&root, dir, "", options, &mut files)?;
    if files.is_empty() {
        return Err(PackError::Empty(dir.to_path_buf()));
    }
    if files.len() > MAX_LAYERS {
        return Err(PackError::Invalid(format!(
            "{} has {} files; a ModelPack holds at most {MAX_LAYERS} layers (pack subdirectories separately, or leave files out with --exclude)",
            dir.display(),
            files.len()
        )));
    }
    files.sort_by(|a, b| a.relative_path.cmp(&b.relative_path));
    let unclassified: Vec<String> = files
        .iter()
        .filter(|f| f.untested && options.unknown_as.is_none())
        .map(|f| f.relative_path.clone())
        .collect();
    if !unclassified.is_empty() {
        return Err(PackError::Unclassified(unclassified));
    }
    Ok(files)
}

fn walk(
    root: &Path,
    dir: &Path,
    relative_dir: &str,
    options: &PackOptions,
    files: &mut Vec<PlannedFile>,
) -> Result<(), PackError> {
    let entries = fs::read_dir(dir).map_err(|source| PackError::Unreadable {
        path: dir.to_path_buf(),
        source,
    })?;
    for entry in entries {
        let entry = entry.map_err(io_error(dir))?;
        let path = entry.path();
        let name = entry
            .file_name()
            .into_string()
            .map_err(|_| PackError::NotUtf8(path.clone()))?;
        if name.starts_with('.') && !options.include_hidden {
            continue;
        }
        let relative = if relative_dir.is_empty() {
            name.clone()
        } else {
            format!("{relative_dir}/{name}")
        };
        if options
            .excludes
            .iter()
            .any(|p| p.matches(&relative) || p.matches(&name))
        {
            continue;
        }
        let file_type = entry.file_type().map_err(io_error(&path))?;
        if file_type.is_dir() {
            walk(root, &path, &relative, options, files)?;
            continue;
        }
        if file_type.is_symlink() {
            check_symlink(root, &path, options)?;
        } else if !file_type.is_file() {
            // Checked before opening: opening a FIFO would block.
            return Err(PackError::SpecialFile(path));
        }
        files.push(plan_file(root, &path, relative, options)?);
    }
    Ok(())
}

fn check_symlink(root: &Path, link: &Path, options: &PackOptions) -> Result<(), PackError> {
    let target = fs::canonicalize(link).map_err(|source| PackError::Unreadable {
        path: link.to_path_buf(),
        source,
    })?;
    if !target.starts_with(root) && !options.follow_symlinks {
        return Err(PackError::SymlinkOutside {
            link: link.to_path_buf(),
            target,
        });
    }
    let meta = fs::metadata(&target).map_err(io_error(&target))?;
    if meta.is_dir() {
        return Err(PackError::SymlinkToDirectory(link.to_path_buf()));
    }
    if !meta.is_file() {
        return Err(PackError::SpecialFile(link.to_path_buf()));
    }
    Ok(())
}

fn plan_file(
    root: &Path,
    path: &Path,
    relative: String,
    options: &PackOptions,
) -> Result<PlannedFile, PackError> {
    check_relative_path(&relative)
        .map_err(|e| PackError::Invalid(format!("file path {relative:?}: {e}")))?;
    // A directory swapped for a link while we walked would lead outside: check where the
    // file really is.
    let real = fs::canonicalize(path).map_err(io_error(path))?;
    if !options.follow_symlinks && !real.starts_with(root) {
        return Err(PackError::SymlinkOutside {
            link: path.to_path_buf(),
            target: real,
        });
    }
    // Opening proves the file readable before anything is written.
    let file = File::open(path).map_err(|source| PackError::Unreadable {
        path: path.to_path_buf(),
        source,
    })?;
    let meta = file.metadata().map_err(io_error(path))?;
    if !meta.is_file() {
        return Err(PackError::SpecialFile(path.to_path_buf()));
    }
    let (role, untested) = match classify(&relative, &options.overrides) {
        Some(role) => (role, false),
        None => (options.unknown_as.unwrap_or(Role::Weight), true),
    };
    Ok(PlannedFile {
        relative_path: relative,
        path: path.to_path_buf(),
        role,
        untested,
        size: meta.len(),
        mode: meta.mode(),
        uid: meta.uid(),
        gid: meta.gid(),
        mtime_seconds: meta.mtime(),
        mtime_nanos: meta.mtime_nsec(),
        inode: (meta.dev(), meta.ino()),
    })
}

/// Packs `dir` into `store` and tags the manifest `tag`. On any failure nothing is tagged and
/// the store's index is unchanged. `progress` is told how many bytes were just hashed.
pub fn pack(
    dir: &Path,
    store: &dyn Store,
    tag: &str,
    options: &PackOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Packed, PackError> {
    let files = plan(dir, options)?;
    pack_files(files, store, tag, options, progress)
}

/// Packs files that [`plan`] found. Files that changed since they were planned are refused.
pub fn pack_files(
    files: Vec<PlannedFile>,
    store: &dyn Store,
    tag: &str,
    options: &PackOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Packed, PackError> {
    let layer_digests = store_files(&files, store, options.threads, progress)?;
    let mut layers = Vec::with_capacity(files.len());
    for (file, (digest, size)) in files.into_iter().zip(layer_digests) {
        let descriptor = layer_descriptor(&file, digest, size, options.timestamps)?;
        layers.push((file, descriptor));
    }
    let config = build_config(&layers, options)?;
    let config_bytes = serde_json::to_vec(&config)
        .map_err(|e| PackError::Invalid(format!("cannot serialize the config: {e}")))?;
    check_size("config", &config_bytes, limits::MAX_CONFIG_BYTES)?;
    let (config_digest, config_size) = store.push_blob(&mut config_bytes.as_slice(), None)?;
    let config_descriptor = Descriptor::new(CONFIG_CNCF, config_digest, config_size);
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(MEDIA_TYPE_IMAGE_MANIFEST.into()),
        artifact_type: Some(ARTIFACT_TYPE_CNCF.into()),
        config: config_descriptor.clone(),
        layers: layers.iter().map(|(_, d)| d.clone()).collect(),
        subject: None,
        annotations: None,
    };
    let manifest_bytes = serde_json::to_vec(&manifest)
        .map_err(|e| PackError::Invalid(format!("cannot serialize the manifest: {e}")))?;
    check_size("manifest", &manifest_bytes, limits::MAX_MANIFEST_BYTES)?;
    let descriptor = store.push_manifest(ManifestPush {
        bytes: &manifest_bytes,
        media_type: MEDIA_TYPE_IMAGE_MANIFEST,
        artifact_type: Some(ARTIFACT_TYPE_CNCF),
        tag: Some(tag),
        condition: TagCondition::Always,
    })?;
    Ok(Packed {
        manifest: descriptor,
        config: config_descriptor,
        layers,
    })
}

/// Refuses to write what every reader would refuse to read.
fn check_size(what: &str, bytes: &[u8], limit: u64) -> Result<(), PackError> {
    if bytes.len() as u64 > limit {
        return Err(PackError::Invalid(format!(
            "the {what} would be {} bytes, over the {limit}-byte limit readers enforce; pack fewer files or shorter paths",
            bytes.len()
        )));
    }
    Ok(())
}

/// The outcome of streaming one file into the store: its digest and size.
type StoredFile = Result<(Digest, u64), PackError>;

/// Streams every file into the store, several at once; returns digests in file order.
fn store_files(
    files: &[PlannedFile],
    store: &dyn Store,
    threads: usize,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Vec<(Digest, u64)>, PackError> {
    let workers = match threads {
        0 => std::thread::available_parallelism().map_or(1, usize::from),
        n => n,
    }
    .min(files.len())
    .max(1);
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let results: Mutex<Vec<Option<StoredFile>>> = Mutex::new(files.iter().map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                while !failed.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(file) = files.get(i) else { break };
                    let result = store_file(file, store, progress, &failed);
                    if result.is_err() {
                        failed.store(true, Ordering::Relaxed);
                    }
                    if let Ok(mut slots) = results.lock()
                        && let Some(slot) = slots.get_mut(i)
                    {
                        *slot = Some(result);
                    }
                }
            });
        }
    });
    let slots = results
        .into_inner()
        .map_err(|_| PackError::Invalid("a packing thread panicked".into()))?;
    let mut digests = Vec::with_capacity(files.len());
    let mut first_error = None;
    for slot in slots {
        match slot {
            Some(Ok(d)) => digests.push(d),
            // A file that changed says more than the cancellations it caused.
            Some(Err(e)) if first_error.is_none() || matches!(e, PackError::Changed(_)) => {
                first_error = Some(e);
            }
            Some(Err(_)) | None => {}
        }
    }
    match first_error {
        Some(e) => Err(e),
        None if digests.len() == files.len() => Ok(digests),
        None => Err(PackError::Invalid(
            "packing stopped before every file was read".into(),
        )),
    }
}

/// Why a copy stopped early: another file failed first.
#[derive(Debug, thiserror::Error)]
#[error("cancelled after another file failed")]
struct Cancelled;

/// Counts bytes for the progress bar and stops early once another file has failed.
struct Metered<'a, R> {
    inner: R,
    progress: &'a (dyn Fn(u64) + Sync),
    failed: &'a AtomicBool,
}

impl<R: Read> Read for Metered<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.failed.load(Ordering::Relaxed) {
            // Not `Interrupted`: readers retry on that kind, and the copy would never stop.
            return Err(io::Error::other(Cancelled));
        }
        let n = self.inner.read(buf)?;
        (self.progress)(n as u64);
        Ok(n)
    }
}

fn store_file(
    file: &PlannedFile,
    store: &dyn Store,
    progress: &(dyn Fn(u64) + Sync),
    failed: &AtomicBool,
) -> Result<(Digest, u64), PackError> {
    let handle = File::open(&file.path).map_err(|source| PackError::Unreadable {
        path: file.path.clone(),
        source,
    })?;
    let before = handle.metadata().map_err(io_error(&file.path))?;
    if !same_version(file, &before) {
        return Err(PackError::Changed(file.path.clone()));
    }
    let mut reader = Metered {
        inner: &handle,
        progress,
        failed,
    };
    let (digest, size) = store.push_blob(&mut reader, None).map_err(|e| match e {
        StoreError::Io { source, .. }
            if source
                .get_ref()
                .is_some_and(|inner| inner.is::<Cancelled>()) =>
        {
            PackError::Invalid(Cancelled.to_string())
        }
        other => PackError::Store(other),
    })?;
    let after = handle.metadata().map_err(io_error(&file.path))?;
    let still_there = fs::metadata(&file.path).map_err(io_error(&file.path))?;
    if size != file.size || !same_version(file, &after) || !same_version(file, &still_there) {
        return Err(PackError::Changed(file.path.clone()));
    }
    Ok((digest, size))
}

/// Whether metadata still describes the file as planned: same inode, size and times.
fn same_version(file: &PlannedFile, meta: &fs::Metadata) -> bool {
    (meta.dev(), meta.ino()) == file.inode
        && meta.len() == file.size
        && meta.mtime() == file.mtime_seconds
        && meta.mtime_nsec() == file.mtime_nanos
}

fn layer_descriptor(
    file: &PlannedFile,
    digest: Digest,
    size: u64,
    timestamps: bool,
) -> Result<Descriptor, PackError> {
    let media_type = LayerType::modelpack(file.role, Packing::Raw)
        .media_type()
        .ok_or_else(|| PackError::Invalid(format!("{} is not a ModelPack role", file.role)))?;
    let name = file
        .relative_path
        .rsplit('/')
        .next()
        .unwrap_or(&file.relative_path)
        .to_string();
    let (mode, uid, gid, mtime) = if timestamps {
        let mtime = jiff::Timestamp::new(file.mtime_seconds, file.mtime_nanos as i32)
            .map_err(|e| PackError::Invalid(format!("{}: {e}", file.path.display())))?;
        (file.mode & 0o777, file.uid, file.gid, mtime.to_string())
    } else {
        let executable = file.mode & 0o111 != 0;
        let mode = if executable { 0o755 } else { 0o644 };
        (mode, 0, 0, REPRODUCIBLE_MTIME.to_string())
    };
    let metadata = FileMetadata {
        name,
        mode,
        uid,
        gid,
        size: i64::try_from(size).map_err(|_| PackError::Invalid("file too large".into()))?,
        mtime: Some(mtime),
        typeflag: 0,
    };
    let mut annotations = Annotations::new();
    let family = Family::Cncf;
    let metadata_json = serde_json::to_string(&metadata)
        .map_err(|e| PackError::Invalid(format!("cannot serialize file metadata: {e}")))?;
    if let (Some(path_key), Some(metadata_key)) = (
        family.filepath_annotation(),
        family.metadata_annotations().first(),
    ) {
        annotations.insert(path_key.into(), file.relative_path.clone());
        annotations.insert((*metadata_key).into(), metadata_json);
    }
    if file.untested
        && let Some(key) = family.untested_annotation()
    {
        annotations.insert(key.into(), "true".into());
    }
    let mut descriptor = Descriptor::new(media_type, digest, size);
    descriptor.annotations = Some(annotations);
    Ok(descriptor)
}

fn build_config(
    layers: &[(PlannedFile, Descriptor)],
    options: &PackOptions,
) -> Result<ModelConfig, PackError> {
    let mut descriptor = options.descriptor.clone();
    if options.timestamps {
        descriptor.created_at = Some(jiff::Timestamp::now().to_string());
    }
    let mut properties = options.properties.clone();
    if properties.format.is_none() {
        let weights = layers
            .iter()
            .filter(|(f, _)| f.role == Role::Weight)
            .map(|(f, _)| f.relative_path.as_str());
        properties.format = infer_format(weights).map(str::to_string);
    }
    let config = ModelConfig {
        descriptor,
        config: properties,
        modelfs: ModelFs {
            kind: MODELFS_TYPE_LAYERS.into(),
            diff_ids: layers.iter().map(|(_, d)| d.digest.clone()).collect(),
        },
    };
    config.check().map_err(PackError::Invalid)?;
    Ok(config)
}

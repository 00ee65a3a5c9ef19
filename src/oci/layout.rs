//! The OCI image layout directory store (the embedded default): `oci-layout`, `index.json` and
//! `blobs/<alg>/<hex>`, as the OCI image-layout specification defines them.
//!
//! Blobs are written to a temporary file in the layout and renamed into place once their digest
//! is known, so a blob path never holds partial content. `index.json` is rewritten the same way
//! while an exclusive lock on `index.json.lock` is held, so concurrent writers in several
//! processes each see the others' entries and lose nothing; readers need no lock because the
//! rename is atomic.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use super::digest::{Algorithm, Digest, Hasher};
use super::limits::{
    MAX_LAYOUT_INDEX_BYTES, MAX_LAYOUT_MARKER_BYTES, MAX_MANIFEST_BYTES, MAX_REFERRERS,
};
use super::manifest::{
    ANNOTATION_REF_NAME, Descriptor, ImageIndex, ManifestHeader, is_index_media_type,
    is_manifest_media_type,
};
use super::store::{ManifestPush, Store, StoreError, TagCondition, as_referrer};
use super::verified::VerifiedReader;
use crate::reference::Target;

const MARKER_FILE: &str = "oci-layout";
const INDEX_FILE: &str = "index.json";
const LOCK_FILE: &str = "index.json.lock";
const LAYOUT_VERSION: &str = "1.0.0";
const COPY_BUFFER: usize = 1 << 20;
/// Blobs up to this size are fsynced before they are renamed into place.
const SYNC_BLOBS_UP_TO: u64 = 16 << 20;

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Marker {
    image_layout_version: String,
}

#[derive(Debug, Clone)]
pub struct LayoutStore {
    root: PathBuf,
}

impl LayoutStore {
    /// Opens an existing layout for reading and writing.
    pub fn open(root: &Path) -> Result<LayoutStore, StoreError> {
        let store = LayoutStore {
            root: root.to_path_buf(),
        };
        match fs::symlink_metadata(root) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(StoreError::NotALayout(
                    root.into(),
                    "not a directory".into(),
                ));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::NotALayout(
                    root.into(),
                    "the directory does not exist".into(),
                ));
            }
            Err(e) => return Err(StoreError::io(root, e)),
        }
        store.check_marker()?;
        Ok(store)
    }

    /// Opens a layout, creating it when the directory is missing or empty. A non-empty
    /// directory that is not a layout is left alone.
    pub fn open_or_create(root: &Path) -> Result<LayoutStore, StoreError> {
        if root.join(MARKER_FILE).exists() {
            return LayoutStore::open(root);
        }
        fs::create_dir_all(root).map_err(|e| StoreError::io(root, e))?;
        let store = LayoutStore {
            root: root.to_path_buf(),
        };
        // Checked before the lock file is created, so that a foreign directory is left untouched.
        store.refuse_foreign_directory()?;
        let _lock = store.lock()?;
        if root.join(MARKER_FILE).exists() {
            // Another process created it while we waited for the lock.
            drop(_lock);
            return LayoutStore::open(root);
        }
        store.refuse_foreign_directory()?;
        if root.join(INDEX_FILE).exists() {
            // Nobody is creating it (we hold the lock): a layout that lost its marker. Its
            // index may hold every tag; never replace it.
            return Err(StoreError::NotALayout(
                root.into(),
                "it has an index.json but no `oci-layout` file; restore `oci-layout` (it holds {\"imageLayoutVersion\":\"1.0.0\"}) instead of packing into it".into(),
            ));
        }
        let blobs = root.join("blobs").join(Algorithm::Sha256.name());
        fs::create_dir_all(&blobs).map_err(|e| StoreError::io(&blobs, e))?;
        let index = serde_json::to_vec(&ImageIndex::empty()).map_err(json_bug)?;
        store.write_atomically(INDEX_FILE, &index)?;
        let marker = serde_json::to_vec(&Marker {
            image_layout_version: LAYOUT_VERSION.into(),
        })
        .map_err(json_bug)?;
        // The marker goes last: a layout with a marker always has an index.
        store.write_atomically(MARKER_FILE, &marker)?;
        Ok(store)
    }

    fn refuse_foreign_directory(&self) -> Result<(), StoreError> {
        // What a layout being created by another process (or a creation that was cut short)
        // holds before its marker is written.
        let own = |name: &str| {
            [LOCK_FILE, INDEX_FILE, MARKER_FILE, "blobs"].contains(&name)
                || name.starts_with(".tmp-")
        };
        let foreign = fs::read_dir(&self.root)
            .map_err(|e| StoreError::io(&self.root, e))?
            .filter_map(Result::ok)
            .any(|entry| !entry.file_name().to_str().is_some_and(own));
        if foreign {
            return Err(StoreError::NotALayout(
                self.root.clone(),
                "the directory is not empty and has no `oci-layout` file; give an empty or new directory".into(),
            ));
        }
        Ok(())
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn check_marker(&self) -> Result<(), StoreError> {
        let path = self.root.join(MARKER_FILE);
        let bytes = read_bounded(&path, MAX_LAYOUT_MARKER_BYTES, "oci-layout")?;
        let marker: Marker = serde_json::from_slice(&bytes).map_err(|e| {
            StoreError::NotALayout(self.root.clone(), format!("`oci-layout` is not valid: {e}"))
        })?;
        if marker.image_layout_version != LAYOUT_VERSION {
            return Err(StoreError::NotALayout(
                self.root.clone(),
                format!(
                    "imageLayoutVersion {:?} is not supported (expected {LAYOUT_VERSION})",
                    marker.image_layout_version
                ),
            ));
        }
        Ok(())
    }

    fn blob_path(&self, digest: &Digest) -> PathBuf {
        // Safe as a path: a Digest holds only a known algorithm name and lowercase hex.
        self.root
            .join("blobs")
            .join(digest.algorithm().name())
            .join(digest.hex())
    }

    /// The layout's `index.json`, bounded and parsed.
    pub fn read_index(&self) -> Result<ImageIndex, StoreError> {
        let path = self.root.join(INDEX_FILE);
        let bytes = read_bounded(&path, MAX_LAYOUT_INDEX_BYTES, "index.json")?;
        serde_json::from_slice(&bytes).map_err(|e| StoreError::Invalid {
            what: format!("{}", path.display()),
            reason: format!("{e}; restore it from a backup, nothing was changed"),
        })
    }

    fn lock(&self) -> Result<File, StoreError> {
        let path = self.root.join(LOCK_FILE);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| StoreError::io(&path, e))?;
        file.lock().map_err(|e| StoreError::io(&path, e))?;
        Ok(file)
    }

    /// Read-modify-write of `index.json` under the lock. The closure sees the current index,
    /// including every entry other processes committed before the lock was taken.
    fn update_index(
        &self,
        change: impl FnOnce(&mut ImageIndex) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let _lock = self.lock()?;
        let mut index = self.read_index()?;
        change(&mut index)?;
        let bytes = serde_json::to_vec(&index).map_err(json_bug)?;
        self.write_atomically(INDEX_FILE, &bytes)
    }

    fn temp_file(&self) -> Result<tempfile::NamedTempFile, StoreError> {
        tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(&self.root)
            .map_err(|e| StoreError::io(&self.root, e))
    }

    /// Writes a small file durably: temp file, fsync, rename, fsync the directory.
    fn write_atomically(&self, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let path = self.root.join(name);
        let mut tmp = self.temp_file()?;
        tmp.write_all(bytes)
            .map_err(|e| StoreError::io(tmp.path(), e))?;
        tmp.as_file()
            .sync_all()
            .map_err(|e| StoreError::io(tmp.path(), e))?;
        tmp.persist(&path)
            .map_err(|e| StoreError::io(&path, e.error))?;
        sync_directory(&self.root);
        Ok(())
    }

    fn manifest_descriptors(&self) -> Result<Vec<Descriptor>, StoreError> {
        Ok(self.read_index()?.manifests)
    }
}

/// Makes renames in `dir` durable. Best effort: some filesystems cannot fsync a directory.
fn sync_directory(dir: &Path) {
    if let Ok(handle) = File::open(dir) {
        let _ = handle.sync_all();
    }
}

fn json_bug(e: serde_json::Error) -> StoreError {
    StoreError::Unsupported(format!("cannot serialize JSON: {e}"))
}

/// Reads a whole file, refusing one larger than `limit` before reading it.
fn read_bounded(path: &Path, limit: u64, what: &str) -> Result<Vec<u8>, StoreError> {
    let file = File::open(path).map_err(|e| StoreError::io(path, e))?;
    let size = file.metadata().map_err(|e| StoreError::io(path, e))?.len();
    if size > limit {
        return Err(StoreError::TooLarge {
            what: format!("{what} ({})", path.display()),
            size,
            limit,
        });
    }
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| StoreError::io(path, e))?;
    if bytes.len() as u64 > limit {
        return Err(StoreError::TooLarge {
            what: format!("{what} ({})", path.display()),
            size: bytes.len() as u64,
            limit,
        });
    }
    Ok(bytes)
}

impl Store for LayoutStore {
    fn location(&self) -> String {
        format!("oci:{}", self.root.display())
    }

    fn resolve(&self, target: &Target) -> Result<Descriptor, StoreError> {
        let entries = self.manifest_descriptors()?;
        if let Some(digest) = &target.digest {
            let found = entries.iter().find(|d| &d.digest == digest).cloned();
            return match found {
                Some(descriptor) => Ok(strip_ref_name(descriptor)),
                None => self.describe_untracked(digest),
            };
        }
        let tag = target.tag_or_default();
        let tagged: Vec<&Descriptor> = entries
            .iter()
            .filter(|d| d.annotation(ANNOTATION_REF_NAME) == Some(tag))
            .collect();
        let distinct: BTreeSet<&Digest> = tagged.iter().map(|d| &d.digest).collect();
        match (tagged.first(), distinct.len()) {
            (Some(descriptor), 1) => Ok(strip_ref_name((*descriptor).clone())),
            (None, _) => Err(StoreError::TagNotFound {
                tag: tag.to_string(),
                location: self.location(),
            }),
            (_, count) => Err(StoreError::AmbiguousTag {
                tag: tag.to_string(),
                count,
                location: self.location(),
            }),
        }
    }

    fn fetch_manifest(&self, descriptor: &Descriptor) -> Result<Vec<u8>, StoreError> {
        let what = format!("manifest {}", descriptor.digest);
        if descriptor.size > MAX_MANIFEST_BYTES {
            return Err(StoreError::TooLarge {
                what,
                size: descriptor.size,
                limit: MAX_MANIFEST_BYTES,
            });
        }
        let path = self.blob_path(&descriptor.digest);
        let file = open_blob_file(&path, &what, &self.location())?;
        let mut bytes = Vec::new();
        VerifiedReader::new(
            file,
            what.clone(),
            descriptor.digest.clone(),
            descriptor.size,
        )
        .read_to_end(&mut bytes)
        .map_err(|e| StoreError::io(&path, e))?;
        Ok(bytes)
    }

    fn push_manifest(&self, manifest: ManifestPush<'_>) -> Result<Descriptor, StoreError> {
        let (digest, size) = self.push_blob(&mut &*manifest.bytes, None)?;
        let mut entry = Descriptor::new(manifest.media_type, digest, size);
        entry.artifact_type = manifest.artifact_type.map(str::to_string);
        let result = entry.clone();
        let location = self.location();
        self.update_index(|index| {
            if let Some(tag) = manifest.tag
                && !condition_holds(index, tag, &manifest.condition)
            {
                return Err(StoreError::TagMoved {
                    tag: tag.to_string(),
                    location,
                });
            }
            add_index_entry(index, entry, manifest.tag);
            Ok(())
        })?;
        Ok(result)
    }

    fn push_blob(
        &self,
        reader: &mut dyn Read,
        expected: Option<&Digest>,
    ) -> Result<(Digest, u64), StoreError> {
        let algorithm = expected.map_or(Algorithm::Sha256, Digest::algorithm);
        let mut tmp = self.temp_file()?;
        let (digest, size) = copy_hashing(reader, tmp.as_file_mut(), algorithm)
            .map_err(|e| StoreError::io(tmp.path(), e))?;
        if let Some(expected) = expected
            && expected != &digest
        {
            return Err(StoreError::DigestMismatch {
                what: "uploaded blob".into(),
                expected: expected.clone(),
                actual: digest.to_string(),
            });
        }
        // Blobs are content, not secrets: readable as other tools write them (the temporary
        // file starts private).
        tmp.as_file()
            .set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .map_err(|e| StoreError::io(tmp.path(), e))?;
        if size <= SYNC_BLOBS_UP_TO {
            // Manifests, configs and signatures are made durable before an index can name
            // them; large layers are not (the cost would dominate packing, and a short layer
            // is caught by its digest on every read).
            tmp.as_file()
                .sync_all()
                .map_err(|e| StoreError::io(tmp.path(), e))?;
        }
        let path = self.blob_path(&digest);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
        }
        // Renaming over an existing blob replaces it with identical, freshly verified content,
        // which also repairs a blob damaged on disk.
        tmp.persist(&path)
            .map_err(|e| StoreError::io(&path, e.error))?;
        if size <= SYNC_BLOBS_UP_TO
            && let Some(dir) = path.parent()
        {
            // The rename itself must be durable before an index can name the blob.
            sync_directory(dir);
        }
        Ok((digest, size))
    }

    fn has_blob(&self, digest: &Digest) -> Result<bool, StoreError> {
        let path = self.blob_path(digest);
        match fs::metadata(&path) {
            Ok(meta) => Ok(meta.is_file()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(StoreError::io(&path, e)),
        }
    }

    fn open_blob(&self, descriptor: &Descriptor) -> Result<Box<dyn Read + Send>, StoreError> {
        let what = format!("blob {}", descriptor.digest);
        let file = open_blob_file(&self.blob_path(&descriptor.digest), &what, &self.location())?;
        Ok(Box::new(VerifiedReader::new(
            file,
            what,
            descriptor.digest.clone(),
            descriptor.size,
        )))
    }

    fn referrers(
        &self,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>, StoreError> {
        let mut all = self.referrers_of_each(std::slice::from_ref(subject))?;
        let found = all.pop().unwrap_or_default();
        Ok(found
            .into_iter()
            .filter(|d| artifact_type.is_none() || d.artifact_type.as_deref() == artifact_type)
            .collect())
    }

    /// One scan of the index answers for every subject: the subject lives in each manifest,
    /// not in its index entry, so every listed manifest is read (and verified) once.
    fn referrers_of_each(&self, subjects: &[Digest]) -> Result<Vec<Vec<Descriptor>>, StoreError> {
        let mut found: Vec<Vec<Descriptor>> = subjects.iter().map(|_| Vec::new()).collect();
        let mut seen = BTreeSet::new();
        for entry in self.manifest_descriptors()? {
            let is_manifest =
                is_manifest_media_type(&entry.media_type) || is_index_media_type(&entry.media_type);
            if !is_manifest || !seen.insert(entry.digest.clone()) {
                continue;
            }
            let bytes = self.fetch_manifest(&entry)?;
            let Some((subject, descriptor)) = as_referrer(&entry, &bytes)? else {
                continue;
            };
            if let Some(slot) = subjects
                .iter()
                .position(|s| s == &subject)
                .and_then(|i| found.get_mut(i))
            {
                slot.push(descriptor);
            }
        }
        for (subject, referrers) in subjects.iter().zip(&found) {
            if referrers.len() > MAX_REFERRERS {
                return Err(StoreError::too_many_referrers(subject, referrers.len()));
            }
        }
        Ok(found)
    }

    fn tags(&self) -> Result<Vec<String>, StoreError> {
        let tags: BTreeSet<String> = self
            .manifest_descriptors()?
            .iter()
            .filter_map(|d| d.annotation(ANNOTATION_REF_NAME).map(str::to_string))
            .collect();
        Ok(tags.into_iter().collect())
    }
}

impl LayoutStore {
    /// A digest that no index entry lists may still be a blob in the layout (a manifest that
    /// was pushed without a tag by another tool); describe it from the blob itself.
    fn describe_untracked(&self, digest: &Digest) -> Result<Descriptor, StoreError> {
        let path = self.blob_path(digest);
        let not_found = || StoreError::NotFound {
            what: format!("manifest {digest}"),
            location: self.location(),
        };
        let meta = fs::metadata(&path).map_err(|_| not_found())?;
        if meta.len() > MAX_MANIFEST_BYTES {
            return Err(not_found());
        }
        let probe = Descriptor::new("", digest.clone(), meta.len());
        let bytes = self.fetch_manifest(&probe)?;
        let header: ManifestHeader = serde_json::from_slice(&bytes).map_err(|_| not_found())?;
        let media_type = header.media_type.ok_or_else(not_found)?;
        if !is_manifest_media_type(&media_type) && !is_index_media_type(&media_type) {
            return Err(not_found());
        }
        Ok(Descriptor::new(media_type, digest.clone(), meta.len()))
    }
}

fn open_blob_file(path: &Path, what: &str, location: &str) -> Result<File, StoreError> {
    File::open(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => StoreError::NotFound {
            what: what.to_string(),
            location: location.to_string(),
        },
        _ => StoreError::io(path, e),
    })
}

/// The index entry as a plain descriptor: the tag annotation belongs to the layout, not to the
/// artifact.
fn strip_ref_name(mut descriptor: Descriptor) -> Descriptor {
    if let Some(annotations) = descriptor.annotations.as_mut() {
        annotations.remove(ANNOTATION_REF_NAME);
        if annotations.is_empty() {
            descriptor.annotations = None;
        }
    }
    descriptor
}

/// Whether the tag is where the condition expects it, in the index about to be rewritten.
fn condition_holds(index: &ImageIndex, tag: &str, condition: &TagCondition) -> bool {
    let mut current = index
        .manifests
        .iter()
        .filter(|d| d.annotation(ANNOTATION_REF_NAME) == Some(tag))
        .map(|d| &d.digest);
    let first = current.next();
    let unique = current.all(|d| Some(d) == first);
    match condition {
        TagCondition::Always => true,
        TagCondition::Absent => first.is_none(),
        TagCondition::Names(expected) => unique && first == Some(expected),
    }
}

/// Adds a manifest to the index. With a tag, the tag moves to this manifest (as docker, skopeo
/// and oras do); without one, the manifest is listed once, untagged, so it stays reachable
/// (referrers are listed this way).
fn add_index_entry(index: &mut ImageIndex, mut entry: Descriptor, tag: Option<&str>) {
    match tag {
        Some(tag) => {
            index
                .manifests
                .retain(|d| d.annotation(ANNOTATION_REF_NAME) != Some(tag));
            entry
                .annotations
                .get_or_insert_with(Default::default)
                .insert(ANNOTATION_REF_NAME.into(), tag.into());
            index.manifests.push(entry);
        }
        None => {
            if !index.manifests.iter().any(|d| d.digest == entry.digest) {
                index.manifests.push(entry);
            }
        }
    }
}

/// Copies `reader` to `out`, hashing on the way; returns the digest and the byte count.
fn copy_hashing(
    reader: &mut dyn Read,
    out: &mut File,
    algorithm: Algorithm,
) -> io::Result<(Digest, u64)> {
    let mut hasher = Hasher::new(algorithm);
    let mut buf = vec![0u8; COPY_BUFFER];
    let mut total: u64 = 0;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let chunk = buf.get(..n).unwrap_or_default();
        hasher.update(chunk);
        out.write_all(chunk)?;
        total = total.saturating_add(n as u64);
    }
    out.flush()?;
    Ok((hasher.finish(), total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::{MEDIA_TYPE_IMAGE_MANIFEST, fetch_blob};

    fn new_layout() -> (tempfile::TempDir, LayoutStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = LayoutStore::open_or_create(&dir.path().join("layout")).unwrap();
        (dir, store)
    }

    fn manifest_bytes(subject: Option<&Descriptor>, artifact_type: &str) -> Vec<u8> {
        let empty = Descriptor::new(crate::oci::MEDIA_TYPE_EMPTY, Digest::sha256_of(b"{}"), 2);
        let m = crate::oci::ImageManifest {
            schema_version: 2,
            media_type: Some(MEDIA_TYPE_IMAGE_MANIFEST.into()),
            artifact_type: Some(artifact_type.into()),
            config: empty,
            layers: vec![],
            subject: subject.cloned(),
            annotations: None,
        };
        serde_json::to_vec(&m).unwrap()
    }

    fn push(store: &LayoutStore, bytes: &[u8], tag: Option<&str>) -> Descriptor {
        store
            .push_manifest(ManifestPush {
                bytes,
                media_type: MEDIA_TYPE_IMAGE_MANIFEST,
                artifact_type: None,
                tag,
                condition: TagCondition::Always,
            })
            .unwrap()
    }

    #[test]
    fn blobs_round_trip_and_are_verified() {
        let (_dir, store) = new_layout();
        let (digest, size) = store.push_blob(&mut &b"weights"[..], None).unwrap();
        assert_eq!(digest, Digest::sha256_of(b"weights"));
        let d = Descriptor::new("x", digest.clone(), size);
        assert_eq!(fetch_blob(&store, &d, 100).unwrap(), b"weights");
        // Tampering on disk is caught on read.
        fs::write(store.blob_path(&digest), b"Weights").unwrap();
        let err = fetch_blob(&store, &d, 100).unwrap_err();
        assert!(matches!(err, StoreError::DigestMismatch { .. }), "{err}");
        assert!(err.is_integrity_failure());
        // Over the limit: refused before reading.
        assert!(matches!(
            fetch_blob(&store, &d, 3),
            Err(StoreError::TooLarge { .. })
        ));
    }

    #[test]
    fn a_blob_with_an_unexpected_digest_is_not_stored() {
        let (_dir, store) = new_layout();
        let wrong = Digest::sha256_of(b"other");
        let err = store
            .push_blob(&mut &b"weights"[..], Some(&wrong))
            .unwrap_err();
        assert!(matches!(err, StoreError::DigestMismatch { .. }));
        assert!(!store.blob_path(&Digest::sha256_of(b"weights")).exists());
        assert!(!store.blob_path(&wrong).exists());
        let leftovers: Vec<_> = fs::read_dir(store.root())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp-"))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn tags_resolve_move_and_keep_other_entries() {
        let (_dir, store) = new_layout();
        let a = push(&store, &manifest_bytes(None, "a"), Some("v1"));
        let b = push(&store, &manifest_bytes(None, "b"), Some("v2"));
        assert_eq!(store.resolve(&Target::tag("v1")).unwrap().digest, a.digest);
        assert_eq!(store.tags().unwrap(), vec!["v1", "v2"]);
        push(&store, &manifest_bytes(None, "b"), Some("v1"));
        assert_eq!(store.resolve(&Target::tag("v1")).unwrap().digest, b.digest);
        assert!(matches!(
            store.resolve(&Target::tag("nope")),
            Err(StoreError::TagNotFound { .. })
        ));
        let pinned = store.resolve(&Target::digest(b.digest.clone())).unwrap();
        assert_eq!(pinned.size, b.size);
        assert!(pinned.annotations.is_none());
    }

    #[test]
    fn conditional_tag_updates_refuse_a_moved_tag() {
        let (_dir, store) = new_layout();
        let first = push(&store, &manifest_bytes(None, "1"), Some("sig"));
        let push_if = |bytes: &[u8], condition| {
            store.push_manifest(ManifestPush {
                bytes,
                media_type: MEDIA_TYPE_IMAGE_MANIFEST,
                artifact_type: None,
                tag: Some("sig"),
                condition,
            })
        };
        let absent = push_if(&manifest_bytes(None, "2"), TagCondition::Absent);
        assert!(matches!(absent, Err(StoreError::TagMoved { .. })));
        let second = push_if(
            &manifest_bytes(None, "2"),
            TagCondition::Names(first.digest.clone()),
        )
        .unwrap();
        // A writer that read `first` before `second` landed must not overwrite it.
        let stale = push_if(
            &manifest_bytes(None, "3"),
            TagCondition::Names(first.digest),
        );
        assert!(matches!(stale, Err(StoreError::TagMoved { .. })));
        assert_eq!(
            store.resolve(&Target::tag("sig")).unwrap().digest,
            second.digest
        );
    }

    #[test]
    fn referrers_are_listed_untagged_and_filtered() {
        let (_dir, store) = new_layout();
        let subject = push(&store, &manifest_bytes(None, "model"), Some("v1"));
        let sig = push(&store, &manifest_bytes(Some(&subject), "sig"), None);
        let att = push(&store, &manifest_bytes(Some(&subject), "att"), None);
        push(&store, &manifest_bytes(Some(&sig), "sig"), None);
        let all = store.referrers(&subject.digest, None).unwrap();
        let digests: Vec<_> = all.iter().map(|d| d.digest.clone()).collect();
        assert_eq!(digests, vec![sig.digest.clone(), att.digest.clone()]);
        let sigs = store.referrers(&subject.digest, Some("sig")).unwrap();
        assert_eq!(sigs.len(), 1);
        assert_eq!(sigs[0].artifact_type.as_deref(), Some("sig"));
        assert_eq!(store.tags().unwrap(), vec!["v1"]);
        let each = store
            .referrers_of_each(&[
                sig.digest.clone(),
                subject.digest.clone(),
                att.digest.clone(),
            ])
            .unwrap();
        assert_eq!(each.iter().map(Vec::len).collect::<Vec<_>>(), vec![1, 2, 0]);
        // Pushing the same referrer again lists it once.
        push(&store, &manifest_bytes(Some(&subject), "sig"), None);
        assert_eq!(store.referrers(&subject.digest, None).unwrap().len(), 2);
    }

    #[test]
    fn damaged_index_is_reported_and_left_alone() {
        let (_dir, store) = new_layout();
        push(&store, &manifest_bytes(None, "a"), Some("v1"));
        let index_path = store.root().join(INDEX_FILE);
        let good = fs::read(&index_path).unwrap();
        let truncated = &good[..good.len() / 2];
        fs::write(&index_path, truncated).unwrap();
        let err = store.resolve(&Target::tag("v1")).unwrap_err();
        assert!(matches!(err, StoreError::Invalid { .. }), "{err}");
        let bytes = manifest_bytes(None, "b");
        let push_err = store
            .push_manifest(ManifestPush {
                bytes: &bytes,
                media_type: MEDIA_TYPE_IMAGE_MANIFEST,
                artifact_type: None,
                tag: Some("v2"),
                condition: TagCondition::Always,
            })
            .unwrap_err();
        assert!(matches!(push_err, StoreError::Invalid { .. }));
        assert_eq!(fs::read(&index_path).unwrap(), truncated);
    }

    #[test]
    fn refuses_to_turn_a_non_empty_directory_into_a_layout() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("model.safetensors"), b"x").unwrap();
        let err = LayoutStore::open_or_create(dir.path()).unwrap_err();
        assert!(matches!(err, StoreError::NotALayout(..)));
        assert!(!dir.path().join(INDEX_FILE).exists());
        let missing = LayoutStore::open(&dir.path().join("absent")).unwrap_err();
        assert!(missing.to_string().contains("does not exist"));
    }

    #[test]
    fn concurrent_writers_in_threads_lose_nothing() {
        let (_dir, store) = new_layout();
        std::thread::scope(|s| {
            for t in 0..4 {
                let store = store.clone();
                s.spawn(move || {
                    for i in 0..10 {
                        let tag = format!("t{t}-{i}");
                        push(&store, &manifest_bytes(None, &tag), Some(&tag));
                    }
                });
            }
        });
        assert_eq!(store.tags().unwrap().len(), 40);
    }
}

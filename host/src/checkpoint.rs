//! The checkpoint file of `collect --checkpoint`: the plugin's checkpoint,
//! opaque to the host, in an envelope the host can check.
//!
//! A plugin's checkpoint says where the next run starts reading (an audit
//! log's cursor). Handed a checkpoint made for another organization, or one
//! edited to lie in the future, it skips every event without a word. So the
//! file says which integration and which configuration (the organization
//! among it) it belongs to and carries a checksum, and a file that does not
//! match is a warning and a full read, never a silent skip.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The envelope's format: a later one is read as no checkpoint.
pub const FORMAT: &str = "watchdog-checkpoint/1";

/// The checkpoint file's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// [`FORMAT`], checked first so a later format is never misread.
    pub format: String,
    /// The integration's manifest id.
    pub plugin: String,
    /// The non-secret configuration of the run that made it, which names
    /// the organization.
    pub config: BTreeMap<String, String>,
    /// The plugin's checkpoint, as it returned it.
    pub checkpoint: String,
    /// SHA-256 of the fields above: an edit shows.
    pub sha256: String,
}

/// Why a checkpoint file is read as no checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Mismatch {
    /// Not JSON of the envelope's shape (or not UTF-8).
    #[error("it is not a checkpoint file this host wrote")]
    NotAnEnvelope,
    /// An envelope of another format, named here.
    #[error("it is format `{0}`, this host reads `{FORMAT}`")]
    Format(String),
    /// Made by another integration, whose id is named here.
    #[error("it belongs to integration `{0}`")]
    Plugin(String),
    /// Made with other configuration values (another organization); the
    /// values are not named, as the operator has them in both places.
    #[error("it was made with another configuration (organization)")]
    Config,
    /// The checksum does not match the content: edited by hand.
    #[error("its checksum does not match its content: it was edited")]
    Edited,
}

/// A checkpoint file that cannot be read or written.
#[derive(Debug, thiserror::Error)]
#[error("checkpoint {}: {source}", .path.display())]
pub struct CheckpointError {
    /// The checkpoint file asked for.
    pub path: PathBuf,
    /// Why it could not be read or written.
    pub source: std::io::Error,
}

impl Envelope {
    /// Wraps a plugin's checkpoint for the run of `plugin` with `config`.
    pub fn new(plugin: &str, config: &BTreeMap<String, String>, checkpoint: &str) -> Envelope {
        let mut envelope = Envelope {
            format: FORMAT.to_owned(),
            plugin: plugin.to_owned(),
            config: config.clone(),
            checkpoint: checkpoint.to_owned(),
            sha256: String::new(),
        };
        envelope.sha256 = envelope.checksum();
        envelope
    }

    fn checksum(&self) -> String {
        let content = (&self.format, &self.plugin, &self.config, &self.checkpoint);
        let text = serde_json::to_vec(&content).expect("strings serialize");
        hex::encode(Sha256::digest(text))
    }

    /// The plugin's checkpoint if this envelope is sound and belongs to a
    /// run of `plugin` with `config`.
    pub fn open(
        text: &str,
        plugin: &str,
        config: &BTreeMap<String, String>,
    ) -> Result<String, Mismatch> {
        #[derive(Deserialize)]
        struct Format {
            format: String,
        }
        let format: Format = serde_json::from_str(text).map_err(|_| Mismatch::NotAnEnvelope)?;
        if format.format != FORMAT {
            return Err(Mismatch::Format(format.format));
        }
        let envelope: Envelope = serde_json::from_str(text).map_err(|_| Mismatch::NotAnEnvelope)?;
        if envelope.sha256 != envelope.checksum() {
            return Err(Mismatch::Edited);
        }
        if envelope.plugin != plugin {
            return Err(Mismatch::Plugin(envelope.plugin));
        }
        if envelope.config != *config {
            return Err(Mismatch::Config);
        }
        Ok(envelope.checkpoint)
    }
}

/// What a checkpoint file gave.
#[derive(Debug, PartialEq, Eq)]
pub enum Loaded {
    /// No file: the first run reads everything.
    None,
    /// The plugin's checkpoint.
    Checkpoint(String),
    /// A file that does not match: everything is read again.
    Refused(Mismatch),
}

/// Checks that a checkpoint file can be written where asked, before any
/// work is done: its folder exists.
pub fn check_place(path: &Path) -> Result<(), CheckpointError> {
    let folder = folder(path);
    match std::fs::metadata(folder) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(CheckpointError {
            path: path.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotADirectory,
                format!("{} is not a folder", folder.display()),
            ),
        }),
        Err(source) => Err(CheckpointError {
            path: path.to_path_buf(),
            source: std::io::Error::new(
                source.kind(),
                format!("its folder {}: {source}", folder.display()),
            ),
        }),
    }
}

fn folder(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// Reads the checkpoint file for a run of `plugin` with `config`.
pub fn load(
    path: &Path,
    plugin: &str,
    config: &BTreeMap<String, String>,
) -> Result<Loaded, CheckpointError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(match Envelope::open(&text, plugin, config) {
            Ok(checkpoint) => Loaded::Checkpoint(checkpoint),
            Err(mismatch) => Loaded::Refused(mismatch),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Loaded::None),
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
            Ok(Loaded::Refused(Mismatch::NotAnEnvelope))
        }
        Err(source) => Err(CheckpointError {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Replaces the checkpoint file, atomically and durably: written under a
/// unique temporary name in the same folder, synced, renamed over the old
/// one, and the folder synced.
pub fn save(path: &Path, envelope: &Envelope) -> Result<(), CheckpointError> {
    let at = |source: std::io::Error| CheckpointError {
        path: path.to_path_buf(),
        source,
    };
    let folder = folder(path);
    let mut text = serde_json::to_string_pretty(envelope).map_err(|e| at(e.into()))?;
    text.push('\n');
    let mut file = tempfile::NamedTempFile::new_in(folder).map_err(at)?;
    file.write_all(text.as_bytes()).map_err(at)?;
    file.as_file().sync_all().map_err(at)?;
    file.persist(path).map_err(|e| at(e.error))?;
    crate::bundle::sync_dir(folder).map_err(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(org: &str) -> BTreeMap<String, String> {
        BTreeMap::from([("org-id".to_owned(), org.to_owned())])
    }

    #[test]
    fn a_saved_checkpoint_is_read_back_by_the_same_integration_and_organization() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path();
        let path = dir.join("state.tmp");
        assert_eq!(load(&path, "p", &config("o-1")).unwrap(), Loaded::None);
        save(&path, &Envelope::new("p", &config("o-1"), "cursor-9")).unwrap();
        assert_eq!(
            load(&path, "p", &config("o-1")).unwrap(),
            Loaded::Checkpoint("cursor-9".into())
        );
        // A path ending in `.tmp` is replaced, not truncated in place, and
        // no temporary file is left beside it.
        save(&path, &Envelope::new("p", &config("o-1"), "cursor-10")).unwrap();
        let names: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["state.tmp"]);
    }

    #[test]
    fn a_checkpoint_of_another_org_a_later_format_or_edited_is_refused() {
        let text = |e: &Envelope| serde_json::to_string(e).unwrap();
        let good = Envelope::new("p", &config("o-1"), "cursor-9");
        let open = |t: &str| Envelope::open(t, "p", &config("o-1"));
        assert_eq!(
            open(&text(&Envelope::new("p", &config("o-2"), "x"))),
            Err(Mismatch::Config)
        );
        assert_eq!(
            open(&text(&Envelope::new("q", &config("o-1"), "x"))),
            Err(Mismatch::Plugin("q".into()))
        );
        let mut future = good.clone();
        future.format = "watchdog-checkpoint/2".into();
        assert!(matches!(open(&text(&future)), Err(Mismatch::Format(_))));
        let mut edited = good.clone();
        edited.checkpoint = "cursor-999999".into();
        assert_eq!(open(&text(&edited)), Err(Mismatch::Edited));
        assert_eq!(open("cursor-9"), Err(Mismatch::NotAnEnvelope));
        assert_eq!(open(&text(&good)), Ok("cursor-9".into()));
    }

    #[test]
    fn a_checkpoint_in_a_missing_folder_is_refused_before_any_work() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path();
        let error = check_place(&dir.join("nowhere/state")).unwrap_err();
        assert_eq!(error.source.kind(), std::io::ErrorKind::NotFound);
        assert!(error.to_string().contains("nowhere"), "{error}");
        check_place(&dir.join("state")).unwrap();
        check_place(Path::new("state")).unwrap();
    }
}

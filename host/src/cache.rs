//! Precompiled components, so a second run starts in milliseconds instead of
//! compiling again.
//!
//! An artifact is keyed by the component's SHA-256 and the engine's
//! compatibility hash (wasmtime version, target, compiler settings), so a
//! changed component or a changed engine never loads a stale artifact.
//! Loading an artifact is `unsafe` in wasmtime because it is trusted machine
//! code: the cache folder must be writable by the operator only, which is why
//! it lives under the user's own cache directory and is created with mode 0700.
//!
//! The folder stays bounded: an artifact is written under a temporary name
//! and renamed, a temporary file a crashed write left behind is removed once
//! it is older than any write could be, and past [`MAX_BYTES`] the artifacts
//! used least recently (a load marks its artifact used) are removed.

use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use wasmtime::Engine;
use wasmtime::component::Component;

/// The most the artifacts may take together, bytes: a few versions of a few
/// integrations (the Atlassian one compiles to about 10 MiB, a Python one to
/// over 100 MiB).
pub const MAX_BYTES: u64 = 1 << 30;

/// The name every artifact ends with; nothing else in the folder is kept.
const ARTIFACT: &str = ".cwasm";

/// How old a file that is not an artifact must be before it is taken for
/// the leftover of a crashed write, not one in progress.
const LEFTOVER_AGE: Duration = Duration::from_secs(3600);

/// Where precompiled artifacts live.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

/// How a component was obtained: compiled now, or read from the cache.
/// (Not an origin in the egress sense, hence not named one.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Compilation {
    /// Compiled from the component's bytes now (no usable artifact).
    Compiled,
    /// Loaded from a precompiled artifact, skipping compilation.
    Cached,
}

impl Cache {
    /// A cache in `dir`, created (mode 0700) on the first store; the folder
    /// must be writable by the operator only, as artifacts are trusted code.
    pub fn new(dir: PathBuf) -> Cache {
        Cache { dir }
    }

    /// `$WATCHDOG_CACHE_DIR`, else `$XDG_CACHE_HOME/watchdog-host`, else
    /// `~/.cache/watchdog-host`.
    pub fn default_dir() -> Option<PathBuf> {
        if let Some(dir) = std::env::var_os("WATCHDOG_CACHE_DIR") {
            return Some(PathBuf::from(dir));
        }
        if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
            return Some(PathBuf::from(dir).join("watchdog-host"));
        }
        std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache/watchdog-host"))
    }

    fn path_for(&self, engine: &Engine, component_sha256: &str) -> PathBuf {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        self.dir.join(format!(
            "{component_sha256}-{:016x}{ARTIFACT}",
            hasher.finish()
        ))
    }

    /// The component, from the cache when an artifact for it exists, else
    /// compiled and stored. A cache that cannot be written only costs time.
    pub fn load(
        &self,
        engine: &Engine,
        bytes: &[u8],
        component_sha256: &str,
    ) -> wasmtime::Result<(Component, Compilation)> {
        let path = self.path_for(engine, component_sha256);
        if path.exists() {
            // SAFETY: the artifact was written by `store` below into a folder
            // only this user can write, under a name that binds it to this
            // component and this engine configuration.
            if let Ok(component) = unsafe { Component::deserialize_file(engine, &path) } {
                // Marked used, so eviction keeps it over artifacts not loaded
                // since; a cache that cannot be touched only costs time.
                let _ = std::fs::File::options()
                    .write(true)
                    .open(&path)
                    .and_then(|file| file.set_modified(SystemTime::now()));
                return Ok((component, Compilation::Cached));
            }
        }
        let component = Component::new(engine, bytes)?;
        let _ = self.store(&path, &component);
        Ok((component, Compilation::Compiled))
    }

    fn store(&self, path: &Path, component: &Component) -> std::io::Result<()> {
        create_private_dir(&self.dir)?;
        let artifact = component
            .serialize()
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let mut file = tempfile::NamedTempFile::new_in(&self.dir)?;
        file.write_all(&artifact)?;
        file.persist(path).map_err(|e| e.error)?;
        tidy(&self.dir, MAX_BYTES, path, SystemTime::now())
    }
}

/// Removes what a crashed write left behind, then the artifacts used least
/// recently until the rest takes at most `max_bytes`; `keep` (the artifact
/// just written) is never removed.
fn tidy(dir: &Path, max_bytes: u64, keep: &Path, now: SystemTime) -> std::io::Result<()> {
    let mut artifacts = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        let path = entry.path();
        let modified = meta.modified()?;
        if !meta.is_file() {
            continue;
        }
        if path.to_string_lossy().ends_with(ARTIFACT) {
            artifacts.push((modified, meta.len(), path));
        } else if now.duration_since(modified).unwrap_or_default() > LEFTOVER_AGE {
            std::fs::remove_file(&path)?;
        }
    }
    let mut total: u64 = artifacts.iter().map(|(_, len, _)| len).sum();
    artifacts.sort();
    for (_, len, path) in artifacts {
        if total <= max_bytes {
            break;
        }
        if path != keep {
            std::fs::remove_file(&path)?;
            total -= len;
        }
    }
    Ok(())
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Hex SHA-256 of a component's bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(dir: &Path, name: &str, bytes: usize, age_secs: u64, now: SystemTime) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, vec![0u8; bytes]).unwrap();
        let file = std::fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(now - Duration::from_secs(age_secs))
            .unwrap();
        path
    }

    #[test]
    fn the_cache_drops_crash_leftovers_and_its_least_recently_used_artifacts() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path();
        let now = SystemTime::now();
        let old_leftover = file(dir, ".tmpA1b2C3", 10, 7200, now);
        let fresh_leftover = file(dir, ".tmpD4e5F6", 10, 5, now);
        let least_used = file(dir, "a-1.cwasm", 400, 300, now);
        let used = file(dir, "b-1.cwasm", 400, 200, now);
        let just_written = file(dir, "c-1.cwasm", 400, 400, now);

        tidy(dir, 1000, &just_written, now).unwrap();

        assert!(!old_leftover.exists(), "a crashed write's file is removed");
        assert!(fresh_leftover.exists(), "a write in progress is left alone");
        assert!(!least_used.exists(), "over the bound, the least used goes");
        assert!(used.exists() && just_written.exists());
    }
}

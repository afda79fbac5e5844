//! Precompiled components, so a second run starts in milliseconds instead of
//! compiling again.
//!
//! An artifact is keyed by the component's SHA-256 and the engine's
//! compatibility hash (wasmtime version, target, compiler settings), so a
//! changed component or a changed engine never loads a stale artifact.
//! Loading an artifact is `unsafe` in wasmtime because it is trusted machine
//! code: the cache folder must be writable by the operator only, which is why
//! it lives under the user's own cache directory and is created with mode 0700.

use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Where precompiled artifacts live.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

/// How a component was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    Compiled,
    Cached,
}

impl Cache {
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
        self.dir
            .join(format!("{component_sha256}-{:016x}.cwasm", hasher.finish()))
    }

    /// The component, from the cache when an artifact for it exists, else
    /// compiled and stored. A cache that cannot be written only costs time.
    pub fn load(
        &self,
        engine: &Engine,
        bytes: &[u8],
        component_sha256: &str,
    ) -> wasmtime::Result<(Component, Origin)> {
        let path = self.path_for(engine, component_sha256);
        if path.exists() {
            // SAFETY: the artifact was written by `store` below into a folder
            // only this user can write, under a name that binds it to this
            // component and this engine configuration.
            if let Ok(component) = unsafe { Component::deserialize_file(engine, &path) } {
                return Ok((component, Origin::Cached));
            }
        }
        let component = Component::new(engine, bytes)?;
        let _ = self.store(&path, &component);
        Ok((component, Origin::Compiled))
    }

    fn store(&self, path: &Path, component: &Component) -> std::io::Result<()> {
        create_private_dir(&self.dir)?;
        let artifact = component
            .serialize()
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, artifact)?;
        std::fs::rename(tmp, path)
    }
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

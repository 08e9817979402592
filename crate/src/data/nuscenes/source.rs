//! Where dataset files come from: a directory on disk (native) or files held in
//! memory (the browser, tests).

use std::collections::HashMap;

/// A failed read of one dataset file.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{location}: {message}")]
pub struct ReadError {
    /// The file, as the user knows it (a full path natively).
    pub location: String,
    pub message: String,
}

/// Read access to the files of a dataset, by path relative to its root
/// (`v1.0-mini/scene.json`, `samples/CAM_FRONT/x.jpg`).
pub trait DataSource {
    fn read(&self, path: &str) -> Result<Vec<u8>, ReadError>;
    /// How to name `path` in an error message.
    fn locate(&self, path: &str) -> String;
}

/// Files held in memory, keyed by their path relative to the dataset root.
#[derive(Debug, Default, Clone)]
pub struct MemorySource {
    pub files: HashMap<String, Vec<u8>>,
}

impl MemorySource {
    pub fn insert(&mut self, path: impl Into<String>, bytes: Vec<u8>) {
        self.files.insert(path.into(), bytes);
    }
}

impl DataSource for MemorySource {
    fn read(&self, path: &str) -> Result<Vec<u8>, ReadError> {
        self.files.get(path).cloned().ok_or_else(|| ReadError {
            location: self.locate(path),
            message: "no such file".into(),
        })
    }

    fn locate(&self, path: &str) -> String {
        path.to_string()
    }
}

/// A dataset root directory on disk.
#[cfg(feature = "native")]
#[derive(Debug, Clone)]
pub struct DirSource {
    pub root: std::path::PathBuf,
}

#[cfg(feature = "native")]
impl DataSource for DirSource {
    fn read(&self, path: &str) -> Result<Vec<u8>, ReadError> {
        std::fs::read(self.root.join(path)).map_err(|e| ReadError {
            location: self.locate(path),
            message: e.to_string(),
        })
    }

    fn locate(&self, path: &str) -> String {
        self.root.join(path).display().to_string()
    }
}

//! The run directory: stage outputs written atomically, each with the key of
//! the inputs and settings it was made from, and per-frame checkpoints, so a
//! run killed at any point continues where it stopped and a changed setting
//! re-runs only the stages it affects.
//!
//! Layout: `OUTDIR/<file>` is a stage's output; `OUTDIR/.autolabel/<file>.done`
//! holds its key and measured time, written after the output (a run killed
//! between the two redoes the stage); `OUTDIR/.autolabel/<stage>.partial`
//! holds the key, then one JSON line per finished frame; a stage that needs
//! more than its finished frames to go on (the tracker's memories) keeps that
//! in `OUTDIR/.autolabel/<file>.saved`, also keyed.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Result;

/// A stage's record in `.autolabel/`.
#[derive(Serialize, Deserialize)]
struct Done {
    key: String,
    seconds: f64,
    items: usize,
}

/// What a finished stage left.
pub struct Finished<T> {
    pub value: T,
    pub seconds: f64,
    pub items: usize,
}

/// The run directory.
pub struct Store {
    dir: PathBuf,
    state: PathBuf,
}

/// sha256 of `bytes`, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// sha256 of a file, read in blocks, hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The key of a stage: sha256 of its settings as JSON.
pub fn key_of(settings: &impl Serialize) -> Result<String> {
    Ok(sha256_hex(serde_json::to_string(settings)?.as_bytes()))
}

impl Store {
    /// Opens (creating) the run directory; refuses a path that is a file.
    pub fn open(dir: &Path) -> Result<Self> {
        if dir.exists() && !dir.is_dir() {
            return Err(format!("--out {}: is a file, not a directory", dir.display()).into());
        }
        let state = dir.join(".autolabel");
        std::fs::create_dir_all(&state)
            .map_err(|e| format!("--out {}: cannot create it: {e}", dir.display()))?;
        Ok(Store {
            dir: dir.to_path_buf(),
            state,
        })
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    /// The stage output `file` if it was made with `key`.
    pub fn finished<T: DeserializeOwned>(&self, file: &str, key: &str) -> Option<Finished<T>> {
        let done: Done = read_json(&self.state.join(format!("{file}.done")))?;
        if done.key != key {
            return None;
        }
        let value = read_json(&self.path(file))?;
        Some(Finished {
            value,
            seconds: done.seconds,
            items: done.items,
        })
    }

    /// Writes a stage output as JSON, then its record.
    pub fn save_json<T: Serialize>(
        &self,
        file: &str,
        key: &str,
        value: &T,
        seconds: f64,
        items: usize,
    ) -> Result<()> {
        self.save_bytes(file, key, &pretty(value)?, seconds, items)
    }

    /// Writes a stage output's bytes, then its record.
    pub fn save_bytes(
        &self,
        file: &str,
        key: &str,
        bytes: &[u8],
        seconds: f64,
        items: usize,
    ) -> Result<()> {
        write_atomic(&self.path(file), bytes)?;
        let done = Done {
            key: key.to_string(),
            seconds,
            items,
        };
        write_atomic(&self.state.join(format!("{file}.done")), &pretty(&done)?)?;
        let _ = std::fs::remove_file(self.partial_path(file));
        let _ = std::fs::remove_file(self.saved_path(file));
        Ok(())
    }

    fn saved_path(&self, file: &str) -> PathBuf {
        self.state.join(format!("{file}.saved"))
    }

    /// Saves a stage's working state (what it needs to go on from where it
    /// is, beside its checkpoint), atomically, under `key`.
    pub fn save_working_state(&self, file: &str, key: &str, bytes: &[u8]) -> Result<()> {
        let mut record = Vec::with_capacity(key.len() + 1 + bytes.len());
        record.extend_from_slice(key.as_bytes());
        record.push(b'\n');
        record.extend_from_slice(bytes);
        write_atomic(&self.saved_path(file), &record)
    }

    /// The working state saved for `file` under `key`, if any.
    pub fn working_state(&self, file: &str, key: &str) -> Option<Vec<u8>> {
        let record = std::fs::read(self.saved_path(file)).ok()?;
        let rest = record.strip_prefix(key.as_bytes())?.strip_prefix(b"\n")?;
        Some(rest.to_vec())
    }

    /// Whether `file` exists with a record of `key` (for outputs not read back).
    pub fn is_done(&self, file: &str, key: &str) -> bool {
        let done: Option<Done> = read_json(&self.state.join(format!("{file}.done")));
        done.is_some_and(|d| d.key == key) && self.path(file).is_file()
    }

    fn partial_path(&self, file: &str) -> PathBuf {
        self.state.join(format!("{file}.partial"))
    }

    /// The frames a killed run of this stage finished, with their seconds;
    /// starts a fresh checkpoint when there is none for `key`.
    pub fn checkpoint<T: Serialize + DeserializeOwned>(
        &self,
        file: &str,
        key: &str,
    ) -> Result<Checkpoint<T>> {
        let path = self.partial_path(file);
        let mut done = Vec::new();
        if let Ok(f) = File::open(&path) {
            let mut lines = BufReader::new(f).lines();
            if lines.next().and_then(|l| l.ok()).as_deref() == Some(key) {
                // A line cut by the kill does not parse: it and what follows are redone.
                done = lines
                    .map_while(|l| l.ok())
                    .map_while(|l| serde_json::from_str::<(T, f64)>(&l).ok())
                    .collect();
            }
        }
        let mut file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        writeln!(file, "{key}").map_err(|e| format!("{}: {e}", path.display()))?;
        let mut checkpoint = Checkpoint {
            file,
            path,
            key: key.to_string(),
            done: Vec::new(),
        };
        for (value, seconds) in done {
            checkpoint.push_serialised(&value, seconds)?;
            checkpoint.done.push((value, seconds));
        }
        Ok(checkpoint)
    }
}

/// A stage's per-frame checkpoint.
pub struct Checkpoint<T> {
    file: File,
    path: PathBuf,
    key: String,
    /// Frames finished so far, with their seconds.
    pub done: Vec<(T, f64)>,
}

impl<T: Serialize> Checkpoint<T> {
    /// Records a finished frame.
    pub fn push(&mut self, value: T, seconds: f64) -> Result<()> {
        self.push_serialised(&value, seconds)?;
        self.done.push((value, seconds));
        Ok(())
    }

    fn push_serialised(&mut self, value: &T, seconds: f64) -> Result<()> {
        let line = serde_json::to_string(&(value, seconds))?;
        writeln!(self.file, "{line}")
            .and_then(|()| self.file.flush())
            .map_err(|e| format!("{}: {e}", self.path.display()).into())
    }

    /// Keeps the first `n` finished frames, dropping the rest (frames that a
    /// resumed stage will redo).
    pub fn truncate(&mut self, n: usize) -> Result<()> {
        if n >= self.done.len() {
            return Ok(());
        }
        self.done.truncate(n);
        let err = |e: std::io::Error| format!("{}: {e}", self.path.display());
        self.file = File::create(&self.path).map_err(err)?;
        writeln!(self.file, "{}", self.key).map_err(err)?;
        let done = std::mem::take(&mut self.done);
        for (value, seconds) in &done {
            self.push_serialised(value, *seconds)?;
        }
        self.done = done;
        Ok(())
    }

    /// The seconds of every finished frame.
    pub fn seconds(&self) -> f64 {
        self.done.iter().map(|(_, s)| s).sum()
    }
}

fn pretty<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    Ok(text.into_bytes())
}

fn read_json<T: DeserializeOwned>(path: &Path) -> Option<T> {
    let bytes = std::fs::read(path).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Writes `bytes` to a temporary file beside `path`, syncs it and renames it
/// over `path`: a reader sees the old file or the new one, never a part.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    let err = |e: std::io::Error| format!("{}: {e}", path.display());
    let mut f = File::create(&tmp).map_err(err)?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)?;
    Ok(())
}

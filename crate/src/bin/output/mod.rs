//! Where a command's JSON goes: `--out FILE` (errors name the file) or stdout,
//! where a reader that stopped reading (`autolabel … | head -c0`) ends the
//! command quietly — the rest of the output has no one to go to.

use std::io::{ErrorKind, Write};
use std::path::Path;

use serde::Serialize;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Writes `value` as pretty JSON (with a final newline) to `out` or stdout.
pub fn write_json<T: Serialize>(value: &T, out: Option<&Path>) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    write_text(&text, out)
}

/// Writes `text` to `out` or stdout.
pub fn write_text(text: &str, out: Option<&Path>) -> Result<()> {
    match out {
        Some(path) => write_file(path, text.as_bytes()),
        None => write_stdout(text.as_bytes()),
    }
}

/// Writes a file; the error names it, and says so when it is a directory.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    if path.is_dir() {
        return Err(format!("{}: is a directory, not a file", path.display()).into());
    }
    std::fs::write(path, bytes).map_err(|e| format!("{}: cannot write it: {e}", path.display()))?;
    Ok(())
}

/// Writes to stdout; a closed pipe is not an error.
fn write_stdout(bytes: &[u8]) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() != ErrorKind::BrokenPipe => Err(format!("stdout: {e}").into()),
        _ => Ok(()),
    }
}

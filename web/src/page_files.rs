//! Files the page holds — a dropped frame folder, a nuScenes dataroot — read
//! by the core as a [`DataSource`]. The bytes are not copied into wasm up
//! front: the pipeline worker reads one file when the core asks for it,
//! through a JS function (`FileReaderSync` over the dropped `File`s, which a
//! dedicated worker may call synchronously), so a clip of any length costs
//! one frame's bytes at a time.

use autolabel::data::nuscenes::{DataSource, ReadError};
use wasm_bindgen::{JsCast, JsValue};

/// `read(path) → Uint8Array` over the files the page holds; `read` throws
/// for a path it does not hold.
pub struct PageFiles {
    read: js_sys::Function,
    /// The folder the paths are under (a dropped folder's name), for messages.
    root: Option<String>,
}

impl PageFiles {
    /// Files named by their own names (a batch's dropped images).
    pub fn new(read: js_sys::Function) -> Self {
        PageFiles { read, root: None }
    }

    /// Files under the dropped folder `root`.
    pub fn in_folder(read: js_sys::Function, root: &str) -> Self {
        PageFiles {
            read,
            root: Some(root.to_string()),
        }
    }
}

/// A thrown JS value's message (an `Error`'s, or the value as text).
pub(crate) fn thrown_message(value: &JsValue) -> String {
    value
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| value.as_string())
        .unwrap_or_else(|| format!("{value:?}"))
}

impl DataSource for PageFiles {
    fn read(&self, path: &str) -> Result<Vec<u8>, ReadError> {
        let bytes = self
            .read
            .call1(&JsValue::NULL, &JsValue::from_str(path))
            .map_err(|e| ReadError {
                location: self.locate(path),
                message: thrown_message(&e),
            })?;
        Ok(js_sys::Uint8Array::new(&bytes).to_vec())
    }

    fn locate(&self, path: &str) -> String {
        match &self.root {
            None => path.to_string(),
            Some(root) if path.is_empty() => format!("folder '{root}'"),
            Some(root) => format!("{root}/{path}"),
        }
    }
}

//! Shared fixtures: scratch directories, the oracle's Python, the demo dataset,
//! model fixtures' tensors.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use autolabel::data::nuscenes::MemorySource;
use autolabel::data::synthetic::{SceneConfig, SyntheticScene};
use autolabel::models::burn::tensor::{Device, Tensor, TensorData};

/// A fresh scratch directory, removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("autolabel-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Asserts that every `null` in the JSON `value` of the output `name` sits at
/// a path `nullable` lists as `name:.field[].field` (`[]`: any element): the
/// fields that are an `Option` in Rust. serde_json writes NaN and ±∞ as
/// `null` too, so a `null` anywhere else is a number that went non-finite.
pub fn check_nulls_only_where_optional(name: &str, value: &serde_json::Value, nullable: &[&str]) {
    fn nulls(v: &serde_json::Value, path: String, found: &mut Vec<String>) {
        match v {
            serde_json::Value::Null => found.push(path),
            serde_json::Value::Array(items) => items
                .iter()
                .for_each(|x| nulls(x, format!("{path}[]"), found)),
            serde_json::Value::Object(fields) => fields
                .iter()
                .for_each(|(k, x)| nulls(x, format!("{path}.{k}"), found)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    nulls(value, String::new(), &mut found);
    for null in found {
        let at = format!("{name}:{null}");
        assert!(
            nullable.contains(&at.as_str()),
            "{at} is null: a number that went non-finite, or an optional field missing from the nullable list"
        );
    }
}

/// [`check_nulls_only_where_optional`] for every `.json` file under `dir`,
/// each named by its path relative to `dir`.
pub fn check_json_files_null_only_where_optional(dir: &Path, nullable: &[&str]) {
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).expect("read an output folder") {
            let path = entry.expect("a folder entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                let bytes = std::fs::read(&path).expect("read a JSON output");
                let value = serde_json::from_slice(&bytes)
                    .unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()));
                let name = path.strip_prefix(dir).expect("under dir").to_string_lossy();
                check_nulls_only_where_optional(&name, &value, nullable);
            }
        }
    }
}

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The Python with nuscenes-devkit (`tests/run` installs it):
/// `$AUTOLABEL_PYTHON`, else `~/.cache/autolabel/venv/bin/python`.
pub fn oracle_python() -> PathBuf {
    if let Some(p) = std::env::var_os("AUTOLABEL_PYTHON") {
        return PathBuf::from(p);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let python = home.join(".cache/autolabel/venv/bin/python");
    assert!(
        python.exists(),
        "{} not found: run `bash tests/run` once (it creates the oracle venv), or set AUTOLABEL_PYTHON",
        python.display()
    );
    python
}

/// Runs a script of `tests/oracle/` with the oracle Python; its stdout.
pub fn run_oracle(script: &str, args: &[&str]) -> String {
    let out = Command::new(oracle_python())
        .arg(repo().join("tests/oracle").join(script))
        .args(args)
        .output()
        .expect("run the oracle python");
    assert!(
        out.status.success(),
        "{script} {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("oracle output is UTF-8")
}

/// The demo scene at nuScenes' 1600×900 (the devkit's 2D export assumes it).
pub fn demo_scene() -> &'static SyntheticScene {
    static SCENE: OnceLock<SyntheticScene> = OnceLock::new();
    SCENE.get_or_init(|| SyntheticScene::generate(&SceneConfig::demo()))
}

/// The tables and map of a scene, in memory.
pub fn metadata_source(scene: &SyntheticScene) -> MemorySource {
    let mut source = MemorySource::default();
    for (path, bytes) in scene.metadata_files().expect("demo metadata") {
        source.insert(path, bytes);
    }
    source
}

/// The largest absolute difference between `got` and the reference's `want`
/// (asserting they have as many values).
pub fn max_abs(what: &str, got: &[f32], want: &[f32]) -> f32 {
    assert_eq!(
        got.len(),
        want.len(),
        "{what}: {} values, reference has {}",
        got.len(),
        want.len()
    );
    got.iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max)
}

/// Runs a future to completion on this thread (the wgpu runtime polls its
/// device on a thread of its own natively).
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};

    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(value) = future.as_mut().poll(&mut cx) {
            return value;
        }
        std::thread::park_timeout(std::time::Duration::from_millis(1));
    }
}

/// Host tensors by key, `(shape, values)`, as a fixture's safetensors holds them.
pub type Tensors = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

/// The fixture entry `key`.
pub fn get<'a>(t: &'a Tensors, key: &str) -> &'a (Vec<usize>, Vec<f32>) {
    t.get(key)
        .unwrap_or_else(|| panic!("fixture lacks '{key}'"))
}

/// A tensor's values on the host.
pub fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("f32 tensor")
}

/// A fixture entry as a tensor on `device`.
pub fn tensor_on<const D: usize>(entry: &(Vec<usize>, Vec<f32>), device: &Device) -> Tensor<D> {
    let shape: [usize; D] = entry.0.clone().try_into().expect("rank");
    Tensor::from_data(TensorData::new(entry.1.clone(), shape), device)
}

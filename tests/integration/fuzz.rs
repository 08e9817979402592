//! A deterministic mutation fuzzer for every parser of user files: valid
//! seeds are mutated (byte flips, interesting bytes, truncations, insertions,
//! splices of another seed, and for JSON a rewritten value, key or element) by
//! a seeded RNG, and each parser must answer every mutant with a value or an
//! error — no panic, no overflow, no single allocation above [`MAX_REQUEST`].
//!
//! Each target runs `AUTOLABEL_FUZZ_ITERATIONS` mutants (default: its own
//! count, a few seconds in CI) from seed `AUTOLABEL_FUZZ_SEED` (default 1).
//! Inputs that once failed are kept under `tests/fixtures/fuzz/<target>/` and
//! run first. A failing mutant is written to the target dir's `fuzz-crashers/`
//! with the command that reruns it. See `docs/reliability.md`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use autolabel::data::classes::ClassMap;
use autolabel::data::nuscenes::{DEFAULT_CHANNEL, MemorySource, NuScenes};
use autolabel::data::synthetic::{SceneConfig, SyntheticScene};
use autolabel::data::video::Mp4Video;
use autolabel::eval::data::GroundTruth;
use autolabel::eval::{EvalConfig, evaluate};
use autolabel::export::archive::{TrainingSize, rescale_dataset};
use autolabel::export::coco::{import_ground_truth, parse_dataset, parse_results};
use autolabel::labels::polygon::mask_to_polygons;
use autolabel::labels::rle::Rle;
use autolabel::models::burn::tensor::Device;
use autolabel::models::checkpoint::{half_precision_copy, read_all_f32};
use autolabel::models::grounding_dino::config::GroundingDinoConfig;
use autolabel::models::grounding_dino::preprocess::ResizeTarget;
use autolabel::models::sam2::{Sam2Config, Sam2Model};
use autolabel::text::{BERT_BASE_UNCASED_VOCAB, BertTokenizer, EncodedPrompt, Prompt};
use serde_json::Value;

use crate::alloc::largest_request_during;
use crate::support::{Scratch, repo};

/// The largest single allocation a parser may request for any input: above
/// every stated limit of `autolabel::limits` (an RGB image at the pixel
/// limit is 192 MiB), far below what would abort the process.
const MAX_REQUEST: usize = 1 << 30;

/// splitmix64: small, seedable, the same sequence everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `0..n` (`n` > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Bytes a parser treats specially: sign bits, all-ones, zero, ASCII digits.
const INTERESTING_BYTES: [u8; 8] = [0x00, 0xFF, 0x7F, 0x80, b'9', b'-', b'"', b'{'];

/// One byte-level mutation of `input`; `other` is another seed to splice from.
fn mutate_bytes(rng: &mut Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    let at = |rng: &mut Rng, len: usize| rng.below(len.max(1));
    match rng.below(7) {
        0 if !out.is_empty() => {
            let i = at(rng, out.len());
            out[i] ^= 1 << rng.below(8);
        }
        1 if !out.is_empty() => {
            let i = at(rng, out.len());
            out[i] = INTERESTING_BYTES[rng.below(INTERESTING_BYTES.len())];
        }
        2 => out.truncate(at(rng, out.len())),
        3 => {
            let i = at(rng, out.len() + 1).min(out.len());
            let n = 1 + rng.below(16);
            let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
            out.splice(i..i, bytes);
        }
        4 if !out.is_empty() => {
            let i = at(rng, out.len());
            let n = (1 + rng.below(64)).min(out.len() - i);
            out.drain(i..i + n);
        }
        5 if !out.is_empty() && !other.is_empty() => {
            let i = at(rng, out.len());
            let j = at(rng, other.len());
            out.truncate(i);
            out.extend_from_slice(&other[j..]);
        }
        _ if !out.is_empty() => {
            let i = at(rng, out.len());
            let n = (1 + rng.below(32)).min(out.len() - i);
            let copy = out[i..i + n].to_vec();
            let j = at(rng, out.len());
            out.splice(j..j, copy);
        }
        _ => out.push(rng.next() as u8),
    }
    out
}

/// Values that break careless code: extremes, signs, fractions, wrong types.
fn interesting_value(rng: &mut Rng) -> Value {
    let json = [
        "0",
        "-1",
        "1",
        "2",
        "3",
        "65535",
        "4294967295",
        "4294967296",
        "18446744073709551615",
        "-9223372036854775808",
        "1e300",
        "-1e300",
        "1e-300",
        "0.5",
        "100000",
        "\"\"",
        "\"x\"",
        "null",
        "true",
        "[]",
        "{}",
        "[0, 0]",
        "[-1, 100000]",
    ];
    serde_json::from_str(json[rng.below(json.len())]).expect("a JSON literal")
}

/// Every node of `value` in pre-order, counted.
fn node_count(value: &Value) -> usize {
    1 + match value {
        Value::Array(items) => items.iter().map(node_count).sum(),
        Value::Object(map) => map.values().map(node_count).sum(),
        _ => 0,
    }
}

/// The `index`-th node of `value` in pre-order.
fn node_mut(value: &mut Value, mut index: usize) -> Option<&mut Value> {
    if index == 0 {
        return Some(value);
    }
    index -= 1;
    let children: Vec<&mut Value> = match value {
        Value::Array(items) => items.iter_mut().collect(),
        Value::Object(map) => map.values_mut().collect(),
        _ => return None,
    };
    for child in children {
        let n = node_count(child);
        if index < n {
            return node_mut(child, index);
        }
        index -= n;
    }
    None
}

/// One structural mutation of a JSON value: a node replaced by an interesting
/// value, an element or key dropped, or an element repeated.
fn mutate_json(rng: &mut Rng, value: &mut Value) {
    let index = rng.below(node_count(value));
    let kind = rng.below(4);
    let interesting = interesting_value(rng);
    let Some(node) = node_mut(value, index) else {
        return;
    };
    match (kind, node) {
        (1, Value::Array(items)) if !items.is_empty() => {
            items.remove(rng.below(items.len()));
        }
        (2, Value::Array(items)) if !items.is_empty() => {
            let copy = items[rng.below(items.len())].clone();
            items.push(copy);
        }
        (1 | 2, Value::Object(map)) if !map.is_empty() => {
            let key = map.keys().nth(rng.below(map.len())).cloned();
            if let Some(key) = key {
                map.remove(&key);
            }
        }
        (_, node) => *node = interesting,
    }
}

/// A mutant of `seed`: for JSON seeds, one to three structural mutations half
/// of the time; otherwise one to four byte mutations.
fn mutant(rng: &mut Rng, seed: &[u8], other: &[u8]) -> Vec<u8> {
    if rng.below(2) == 0
        && let Ok(mut value) = serde_json::from_slice::<Value>(seed)
    {
        for _ in 0..1 + rng.below(3) {
            mutate_json(rng, &mut value);
        }
        return serde_json::to_vec(&value).expect("a JSON value serialises");
    }
    let mut out = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        out = mutate_bytes(rng, &out, other);
    }
    out
}

/// A parser under test: seeds, how many mutants CI runs, and the run.
struct Target {
    name: &'static str,
    seeds: fn() -> Vec<Vec<u8>>,
    iterations: usize,
    /// Mutates the seed's parts a parser reads (default: the whole seed).
    mutate: fn(&mut Rng, &[u8], &[u8]) -> Vec<u8>,
    run: fn(&[u8]),
}

fn iterations(default: usize) -> usize {
    std::env::var("AUTOLABEL_FUZZ_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn fuzz_seed() -> u64 {
    std::env::var("AUTOLABEL_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

/// Why `input` fails `target`, if it does.
fn failure(target: &Target, input: &[u8]) -> Option<String> {
    let (outcome, largest) =
        largest_request_during(|| catch_unwind(AssertUnwindSafe(|| (target.run)(input))));
    match outcome {
        Err(panic) => Some(format!(
            "panicked: {}",
            panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("(no message)")
        )),
        Ok(()) if largest > MAX_REQUEST => {
            Some(format!("requested {largest} bytes in one allocation"))
        }
        Ok(()) => None,
    }
}

fn regression_dir(target: &str) -> PathBuf {
    repo().join("tests/fixtures/fuzz").join(target)
}

/// Runs the kept regression inputs, then the mutants; fails naming the first
/// failing input, saved for a regression file.
fn fuzz(target: &Target) {
    if let Ok(dir) = std::fs::read_dir(regression_dir(target.name)) {
        for entry in dir.flatten() {
            let bytes = std::fs::read(entry.path()).expect("read a regression input");
            if let Some(why) = failure(target, &bytes) {
                panic!("{}: {why}", entry.path().display());
            }
        }
    }
    let seeds = (target.seeds)();
    for seed in &seeds {
        assert!(
            failure(target, seed).is_none(),
            "{}: a seed fails",
            target.name
        );
    }
    let mut rng = Rng(fuzz_seed() ^ target.name.len() as u64);
    for i in 0..iterations(target.iterations) {
        let seed = &seeds[rng.below(seeds.len())];
        let other = &seeds[rng.below(seeds.len())];
        let input = (target.mutate)(&mut rng, seed, other);
        if let Some(why) = failure(target, &input) {
            let saved = save_crasher(target.name, i, &input);
            panic!(
                "{} mutant {i} {why}; input saved to {} (copy it to {}/ as a regression input)",
                target.name,
                saved.display(),
                regression_dir(target.name).display()
            );
        }
    }
}

fn save_crasher(target: &str, iteration: usize, input: &[u8]) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-crashers");
    std::fs::create_dir_all(&dir).expect("create the crasher dir");
    let path = dir.join(format!("{target}-{iteration}.bin"));
    std::fs::write(&path, input).expect("save the crasher");
    path
}

// ---- safetensors: header, tensor table, the checkpoint loader ----

fn sam2_fixture(name: &str) -> Vec<u8> {
    std::fs::read(repo().join("models/fixtures/sam2-tiny").join(name)).expect("the SAM 2 fixture")
}

fn tiny_sam2_config() -> &'static Sam2Config {
    static CONFIG: OnceLock<Sam2Config> = OnceLock::new();
    CONFIG.get_or_init(|| {
        Sam2Config::from_json(&String::from_utf8(sam2_fixture("config.json")).unwrap()).unwrap()
    })
}

/// Mutates the header (length prefix and JSON table) far more often than the
/// data, which only holds values.
fn mutate_safetensors(rng: &mut Rng, seed: &[u8], other: &[u8]) -> Vec<u8> {
    let header_end = seed
        .get(..8)
        .map(|n| 8 + u64::from_le_bytes(n.try_into().unwrap()) as usize)
        .filter(|&end| end <= seed.len());
    let Some(end) = header_end.filter(|_| rng.below(4) != 0) else {
        return mutant(rng, seed, other);
    };
    let (header, data) = seed.split_at(end);
    let json = if rng.below(2) == 0 {
        mutant(rng, &header[8..], &header[8..])
    } else {
        header[8..].to_vec()
    };
    let mut out = (json.len() as u64).to_le_bytes().to_vec();
    if rng.below(8) == 0 {
        out = mutate_bytes(rng, &out, &[]);
    }
    out.extend_from_slice(&json);
    out.extend_from_slice(data);
    out
}

fn run_safetensors(bytes: &[u8]) {
    let _ = read_all_f32(bytes);
    let _ = half_precision_copy(bytes);
    let _ = Sam2Model::from_safetensors(tiny_sam2_config().clone(), bytes, &Device::flex());
}

// ---- nuScenes tables ----

fn small_scene() -> &'static SyntheticScene {
    static SCENE: OnceLock<SyntheticScene> = OnceLock::new();
    SCENE.get_or_init(|| SyntheticScene::generate(&SceneConfig::small(12, 160, 90)))
}

/// A nuScenes input: `<table path>\0<table bytes>`, the other tables as the seed's.
fn nuscenes_seeds() -> Vec<Vec<u8>> {
    small_scene()
        .metadata_files()
        .expect("demo metadata")
        .into_iter()
        .filter(|(path, _)| path.ends_with(".json"))
        .map(|(path, bytes)| [path.as_bytes(), b"\0", &bytes].concat())
        .collect()
}

fn mutate_nuscenes(rng: &mut Rng, seed: &[u8], other: &[u8]) -> Vec<u8> {
    let split = |b: &[u8]| -> (Vec<u8>, Vec<u8>) {
        let at = b.iter().position(|&c| c == 0).unwrap_or(b.len());
        (
            b[..at].to_vec(),
            b.get(at + 1..).unwrap_or_default().to_vec(),
        )
    };
    let (path, table) = split(seed);
    let (_, other_table) = split(other);
    [&path[..], b"\0", &mutant(rng, &table, &other_table)].concat()
}

fn run_nuscenes(input: &[u8]) {
    let Some(at) = input.iter().position(|&c| c == 0) else {
        return;
    };
    let scene = small_scene();
    let mut source = MemorySource::default();
    for (path, bytes) in scene.metadata_files().expect("demo metadata") {
        source.insert(path, bytes);
    }
    source.insert(
        String::from_utf8_lossy(&input[..at]).into_owned(),
        input[at + 1..].to_vec(),
    );
    let Ok(db) = NuScenes::load(&source, "v1.0-mini") else {
        return;
    };
    if let Ok(frames) = db.camera_frames(&scene.config.name, DEFAULT_CHANNEL, Some(24)) {
        let _ = db.ground_truth(&frames, &ClassMap::nuscenes_default());
    }
}

// ---- COCO datasets and results ----

const COCO_DATASET: &str = r#"{
  "info": {"description": "fuzz seed"},
  "images": [
    {"id": 1, "file_name": "a.jpg", "width": 10, "height": 8},
    {"id": 2, "file_name": "b.jpg", "width": 6, "height": 5}
  ],
  "categories": [{"id": 1, "name": "car"}, {"id": 2, "name": "bus"}],
  "annotations": [
    {"id": 5, "image_id": 1, "category_id": 1, "bbox": [1, 1, 4, 3], "area": 12, "iscrowd": 0,
     "segmentation": [[1, 1, 5, 1, 5, 4, 1, 4], [6, 6, 8, 6, 7, 7]]},
    {"id": 6, "image_id": 1, "category_id": 2, "bbox": [0, 0, 2, 2], "iscrowd": false},
    {"id": 7, "image_id": 2, "category_id": 2, "bbox": [1, 1, 2, 2], "iscrowd": 1,
     "segmentation": {"size": [5, 6], "counts": [6, 2, 3, 2, 17]}},
    {"id": 8, "image_id": 2, "category_id": 1, "bbox": [0, 0, 3, 3], "iscrowd": 0,
     "segmentation": {"size": [5, 6], "counts": "0320d0"}}
  ]
}"#;

const COCO_RESULTS: &str = r#"[
  {"image_id": 1, "category_id": 1, "bbox": [1, 1, 4, 3], "score": 0.9},
  {"image_id": 1, "category_id": 2, "bbox": [0, 0, 3, 2], "score": 0.4,
   "segmentation": [[0, 0, 3, 0, 3, 2, 0, 2]]},
  {"image_id": 2, "category_id": 2, "score": 0.7,
   "segmentation": {"size": [5, 6], "counts": [6, 2, 3, 2, 17]}}
]"#;

fn coco_truth() -> &'static GroundTruth {
    static GT: OnceLock<GroundTruth> = OnceLock::new();
    GT.get_or_init(|| {
        import_ground_truth(&parse_dataset(COCO_DATASET.as_bytes()).unwrap())
            .unwrap()
            .ground_truth
    })
}

fn run_coco_dataset(bytes: &[u8]) {
    let Ok(dataset) = parse_dataset(bytes) else {
        return;
    };
    if import_ground_truth(&dataset).is_ok() {
        let _ = rescale_dataset(&dataset, TrainingSize::LongestSide(16));
    }
}

fn run_coco_results(bytes: &[u8]) {
    if let Ok(dets) = parse_results(bytes, coco_truth()) {
        let report = evaluate(coco_truth(), &dets, &EvalConfig::default());
        serde_json::to_vec(&report).expect("a report serialises");
    }
}

// ---- RLE strings and polygons ----

/// An RLE input: `height u32 LE`, `width u32 LE`, the compressed string.
fn rle_seeds() -> Vec<Vec<u8>> {
    [
        (8u32, 10u32, "03202O1000"),
        (5, 6, "62327"),
        (3, 3, "9"),
        (4, 4, "1;0O1"),
    ]
    .iter()
    .map(|(h, w, s)| [&h.to_le_bytes()[..], &w.to_le_bytes(), s.as_bytes()].concat())
    .collect()
}

fn run_rle(input: &[u8]) {
    if input.len() < 8 {
        return;
    }
    let h = u32::from_le_bytes(input[..4].try_into().unwrap());
    let w = u32::from_le_bytes(input[4..8].try_into().unwrap());
    let Ok(rle) = Rle::from_compressed(h, w, &String::from_utf8_lossy(&input[8..])) else {
        return;
    };
    let again = Rle::from_compressed(h, w, &rle.to_compressed()).expect("its own string parses");
    assert_eq!(again, rle, "compressed round trip");
    let mask = rle.decode();
    assert_eq!(Rle::encode(&mask).decode(), mask, "decode round trip");
    assert_eq!(
        rle.area(),
        mask.data().iter().map(|&v| u64::from(v)).sum::<u64>()
    );
}

fn polygon_seeds() -> Vec<Vec<u8>> {
    [
        r#"{"size": [8, 10], "polygon": [1, 1, 5, 1, 5, 4, 1, 4]}"#,
        r#"{"size": [20, 20], "polygon": [0.5, 0.5, 19.5, 3, 10, 19.5, 2, 10, 15, 12]}"#,
        r#"{"size": [6, 6], "polygon": [-3, -3, 9, 2, 2, 9]}"#,
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

fn run_polygon(bytes: &[u8]) {
    #[derive(serde::Deserialize)]
    struct Input {
        size: [u32; 2],
        polygon: Vec<f64>,
    }
    let Ok(input) = serde_json::from_slice::<Input>(bytes) else {
        return;
    };
    let [h, w] = input.size;
    if let Ok(rle) = Rle::from_polygon(&input.polygon, h, w) {
        let mask = rle.decode();
        for ring in mask_to_polygons(&mask) {
            assert!(
                ring.iter().all(|v| v.is_finite()),
                "a traced polygon is finite"
            );
        }
    }
}

// ---- MP4 box parser ----

fn mp4_seeds() -> Vec<Vec<u8>> {
    ["clip_baseline.mp4", "audio_only.mp4", "high10.mp4"]
        .iter()
        .map(|f| std::fs::read(repo().join("tests/fixtures/video").join(f)).expect("video fixture"))
        .collect()
}

/// Mutates within the index (`moov`, the last ~1.5 KiB of the fixtures)
/// three times out of four.
fn mutate_mp4(rng: &mut Rng, seed: &[u8], other: &[u8]) -> Vec<u8> {
    if rng.below(4) == 0 || seed.len() < 2048 {
        return mutant(rng, seed, other);
    }
    let cut = seed.len() - 2048;
    let tail = mutant(rng, &seed[cut..], &seed[cut..]);
    [&seed[..cut], &tail[..]].concat()
}

fn run_mp4(bytes: &[u8]) {
    static SCRATCH: OnceLock<Scratch> = OnceLock::new();
    let dir = &SCRATCH.get_or_init(|| Scratch::new("fuzz-mp4")).0;
    let path = dir.join(format!("{:?}.mp4", std::thread::current().id()));
    std::fs::write(&path, bytes).expect("write the mutant");
    if let Ok(video) = Mp4Video::open(&path) {
        for i in 0..video.len() {
            video
                .timestamp_us(i)
                .expect("a listed frame has a timestamp");
        }
    }
}

// ---- BERT tokenizer and prompts ----

fn tokenizer() -> &'static BertTokenizer {
    static TOKENIZER: OnceLock<BertTokenizer> = OnceLock::new();
    TOKENIZER.get_or_init(|| BertTokenizer::from_vocab(BERT_BASE_UNCASED_VOCAB).unwrap())
}

fn text_seeds() -> Vec<Vec<u8>> {
    [
        "car . truck .",
        "Car, traffic light; PEDESTRIAN\nbus",
        "Café 東京 naïve — ##ing [SEP] [MASK]",
        "a \u{0301}\u{200b}\u{feff} .. , ;",
        "unaffable . xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

fn run_tokenizer(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    let encoding = tokenizer().encode(&text);
    let _ = tokenizer().decode(&encoding.ids);
    if Prompt::parse(&text).is_ok() {
        let _ = EncodedPrompt::new(tokenizer(), &text);
    }
    // A vocab.txt of the mutant's lines plus the special tokens.
    let vocab = format!("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n{text}");
    if let Ok(own) = BertTokenizer::from_vocab(&vocab) {
        let _ = own.encode("unaffable car . traffic light");
    }
}

// ---- each model's config.json and the CLI's JSON settings ----

fn config_seeds() -> Vec<Vec<u8>> {
    let mut seeds = vec![
        sam2_fixture("config.json"),
        std::fs::read(repo().join("models/fixtures/grounding-dino-tiny/config.json"))
            .expect("the Grounding DINO fixture"),
        br#"{"size": {"shortest_edge": 800, "longest_edge": 1333}, "do_resize": true}"#.to_vec(),
    ];
    seeds.push(serde_json::to_vec(&ClassMap::nuscenes_default()).unwrap());
    seeds.push(serde_json::to_vec(&EvalConfig::default()).unwrap());
    seeds
}

fn run_config(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    let _ = Sam2Config::from_json(&text);
    let _ = GroundingDinoConfig::from_json(&text);
    let _ = ResizeTarget::from_preprocessor_config(&text);
    if let Ok(map) = serde_json::from_slice::<ClassMap>(bytes) {
        let _ = map.validate();
    }
    let _ = serde_json::from_slice::<EvalConfig>(bytes);
}

macro_rules! fuzz_test {
    ($test:ident, $name:literal, $seeds:expr, $iterations:expr, $mutate:expr, $run:expr) => {
        #[test]
        fn $test() {
            fuzz(&Target {
                name: $name,
                seeds: $seeds,
                iterations: $iterations,
                mutate: $mutate,
                run: $run,
            });
        }
    };
}

fuzz_test!(
    fuzz_safetensors,
    "safetensors",
    || vec![sam2_fixture("model.safetensors")],
    300,
    mutate_safetensors,
    run_safetensors
);
fuzz_test!(
    fuzz_nuscenes,
    "nuscenes",
    nuscenes_seeds,
    300,
    mutate_nuscenes,
    run_nuscenes
);
fuzz_test!(
    fuzz_coco_dataset,
    "coco_dataset",
    || vec![COCO_DATASET.as_bytes().to_vec()],
    3000,
    mutant,
    run_coco_dataset
);
fuzz_test!(
    fuzz_coco_results,
    "coco_results",
    || vec![COCO_RESULTS.as_bytes().to_vec()],
    3000,
    mutant,
    run_coco_results
);
fuzz_test!(fuzz_rle, "rle", rle_seeds, 20000, mutant, run_rle);
fuzz_test!(
    fuzz_polygon,
    "polygon",
    polygon_seeds,
    5000,
    mutant,
    run_polygon
);
fuzz_test!(fuzz_mp4, "mp4", mp4_seeds, 3000, mutate_mp4, run_mp4);
fuzz_test!(
    fuzz_tokenizer,
    "tokenizer",
    text_seeds,
    2000,
    mutant,
    run_tokenizer
);
fuzz_test!(
    fuzz_config,
    "config",
    config_seeds,
    5000,
    mutant,
    run_config
);

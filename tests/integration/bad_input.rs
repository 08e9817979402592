//! Broken datasets give errors that name the file, the row or token, and what
//! is wrong; nothing panics.

use autolabel::data::classes::ClassMap;
use autolabel::data::clip::Clip;
use autolabel::data::nuscenes::{DEFAULT_CHANNEL, MemorySource, NuScenes};
use serde_json::Value;

use crate::support::{demo_scene, metadata_source};

const V: &str = "v1.0-mini";

fn table(source: &MemorySource, name: &str) -> Vec<Value> {
    serde_json::from_slice(&source.files[&format!("{V}/{name}.json")]).unwrap()
}

fn put(source: &mut MemorySource, name: &str, rows: &[Value]) {
    source.insert(
        format!("{V}/{name}.json"),
        serde_json::to_vec(rows).unwrap(),
    );
}

fn load_error(source: &MemorySource) -> String {
    NuScenes::load(source, V)
        .expect_err("the dataset should be rejected")
        .to_string()
}

fn assert_mentions(message: &str, parts: &[&str]) {
    for p in parts {
        assert!(message.contains(p), "'{message}' should mention '{p}'");
    }
}

#[test]
fn a_missing_table_is_named() {
    let mut source = metadata_source(demo_scene());
    source.files.remove(&format!("{V}/visibility.json"));
    assert_mentions(
        &load_error(&source),
        &["visibility", "v1.0-mini/visibility.json", "no such file"],
    );
}

#[test]
fn invalid_json_names_file_line_and_column() {
    let mut source = metadata_source(demo_scene());
    let key = format!("{V}/sample.json");
    let cut = source.files[&key][..200].to_vec();
    source.insert(key, cut);
    assert_mentions(
        &load_error(&source),
        &["v1.0-mini/sample.json", "not valid JSON", "line"],
    );
}

#[test]
fn a_malformed_row_names_row_token_and_field() {
    let mut source = metadata_source(demo_scene());
    let mut rows = table(&source, "sample_annotation");
    let token = rows[3]["token"].as_str().unwrap().to_string();
    rows[3].as_object_mut().unwrap().remove("translation");
    put(&mut source, "sample_annotation", &rows);
    assert_mentions(
        &load_error(&source),
        &["sample_annotation.json", "row 3", &token, "translation"],
    );

    let mut rows = table(&source, "ego_pose");
    rows[1]["rotation"] = serde_json::json!([0.0, 0.0, 0.0, 0.0]);
    put(&mut source, "ego_pose", &rows);
    put(
        &mut source,
        "sample_annotation",
        &table(&metadata_source(demo_scene()), "sample_annotation"),
    );
    assert_mentions(
        &load_error(&source),
        &[
            "ego_pose.json",
            rows[1]["token"].as_str().unwrap(),
            "rotation",
        ],
    );
}

#[test]
fn a_dangling_token_names_both_ends() {
    let mut source = metadata_source(demo_scene());
    let mut rows = table(&source, "sample_annotation");
    let token = rows[5]["token"].as_str().unwrap().to_string();
    rows[5]["instance_token"] = Value::from("no-such-instance");
    put(&mut source, "sample_annotation", &rows);
    assert_mentions(
        &load_error(&source),
        &[
            "sample_annotation.json",
            &token,
            "instance_token",
            "no-such-instance",
            "instance.json",
        ],
    );
}

#[test]
fn a_duplicate_token_is_rejected() {
    let mut source = metadata_source(demo_scene());
    let mut rows = table(&source, "sample");
    rows.push(rows[0].clone());
    put(&mut source, "sample", &rows);
    assert_mentions(
        &load_error(&source),
        &["sample.json", rows[0]["token"].as_str().unwrap(), "twice"],
    );
}

#[test]
fn an_unknown_category_names_the_category_and_annotation() {
    let scene = demo_scene();
    let mut source = metadata_source(scene);
    let mut rows = table(&source, "category");
    let car = rows
        .iter_mut()
        .find(|c| c["name"] == "vehicle.car")
        .unwrap();
    car["name"] = Value::from("vehicle.hovercraft");
    put(&mut source, "category", &rows);
    let db = NuScenes::load(&source, V).unwrap();
    let frames = db
        .camera_frames(&scene.config.name, DEFAULT_CHANNEL, None)
        .unwrap();
    let err = db
        .ground_truth(&frames, &ClassMap::nuscenes_default())
        .unwrap_err()
        .to_string();
    assert_mentions(
        &err,
        &[
            "category.json",
            "vehicle.hovercraft",
            "annotation",
            "class table",
        ],
    );
}

#[test]
fn unknown_scene_and_channel_list_what_exists() {
    let scene = demo_scene();
    let db = NuScenes::load(&metadata_source(scene), V).unwrap();
    let err = db
        .camera_frames("scene-9999", DEFAULT_CHANNEL, None)
        .unwrap_err()
        .to_string();
    assert_mentions(&err, &["scene-9999", &scene.config.name]);
    let err = db
        .camera_frames(&scene.config.name, "CAM_BACK", None)
        .unwrap_err()
        .to_string();
    assert_mentions(&err, &["CAM_BACK", "CAM_FRONT"]);
}

#[test]
fn a_truncated_frame_names_its_file() {
    let scene = demo_scene();
    let mut source = metadata_source(scene);
    let db = NuScenes::load(&source, V).unwrap();
    let frames = db
        .camera_frames(&scene.config.name, DEFAULT_CHANNEL, Some(2))
        .unwrap();
    let jpeg = scene.frame_jpeg(0).unwrap();
    source.insert(frames[0].image.clone(), jpeg[..jpeg.len() / 3].to_vec());
    let mut clip = Clip::nuscenes(
        &db,
        Box::new(source),
        &scene.config.name,
        DEFAULT_CHANNEL,
        Some(2),
    )
    .unwrap();
    let err = clip.frame(0).unwrap_err().to_string();
    assert_mentions(&err, &[&frames[0].image, "truncated"]);
    let err = clip.frame(1).unwrap_err().to_string();
    assert_mentions(&err, &[&frames[1].image, "no such file"]);
}

//! `autolabel run --review`: a person's decisions from the QA queue
//! (`review-queue.json`) applied to every export, the earlier stages reused.

use std::path::Path;

use serde_json::{Value, json};

use crate::run::{demo_dataset, json, loud_run_command, ok, run_command, stderr, write_ontology};
use crate::support::{Scratch, run_oracle};

/// `(image_id, track_id)` of every annotation of a COCO dataset.
fn labels_of(dataset: &Value) -> Vec<(u64, u64)> {
    dataset["annotations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["image_id"].as_u64().unwrap(),
                a["track_id"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn annotation<'a>(dataset: &'a Value, item: &Value) -> &'a Value {
    dataset["annotations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["image_id"] == item["frame"] && a["track_id"] == item["track_id"])
        .unwrap_or_else(|| panic!("no annotation for {item}"))
}

fn write_review(path: &Path, edits: Vec<Value>) {
    std::fs::write(path, json!({ "edits": edits }).to_string()).unwrap();
}

#[test]
fn a_review_deletes_fixes_and_accepts_labels_in_every_export() {
    let scratch = Scratch::new("run-review");
    let dataset = demo_dataset(&scratch.0, 13);
    let ontology = write_ontology(&scratch.0);
    let out = scratch.0.join("out");
    ok(
        run_command(&dataset, &ontology, &out).output().unwrap(),
        "autolabel run",
    );
    let automatic = json(&out.join("labels.json"));
    let before = labels_of(&automatic);
    let queue = json(&out.join("review-queue.json"));
    let items = queue.as_array().unwrap();
    assert_eq!(items.len(), before.len(), "every label is in the queue");
    let failures = items.iter().take_while(|i| i.get("kind").is_some()).count();
    assert!(failures > 0, "the demo scene's false positives come first");
    let scores: Vec<f64> = items[failures..]
        .iter()
        .map(|i| i["score"].as_f64().unwrap())
        .collect();
    assert!(
        scores.is_sorted(),
        "then the least certain first: {scores:?}"
    );

    let (delete, fix, accept) = (&items[0], &items[1], &items[2]);
    let [x0, y0, x1, y1] = [0, 1, 2, 3].map(|k| fix["box"][k].as_f64().unwrap());
    let moved = [x0, y0, x0 + (x1 - x0) / 2.0, y1];
    let review = scratch.0.join("my-review.json");
    let edit = |item: &Value, action: Value| {
        let mut e = json!({"frame": item["frame"], "track_id": item["track_id"]});
        e.as_object_mut()
            .unwrap()
            .extend(action.as_object().unwrap().clone());
        e
    };
    write_review(
        &review,
        vec![
            edit(delete, json!({"action": "delete"})),
            edit(
                fix,
                json!({"action": "fix", "class": "bus", "box": moved, "points": [[x0 + 1.0, y0 + 1.0, 1]]}),
            ),
            edit(accept, json!({"action": "accept"})),
        ],
    );
    let rerun = ok(
        loud_run_command(&dataset, &ontology, &out)
            .arg("--review")
            .arg(&review)
            .output()
            .unwrap(),
        "autolabel run --review",
    );
    let said = stderr(&rerun);
    for reused in ["detections.json", "masks.json", "tracks.json"] {
        assert!(said.contains(&format!("reusing {reused}")), "{said}");
    }
    assert!(
        said.contains("review: 1 accepted, 1 fixed (1 segmented again), 1 deleted"),
        "{said}"
    );

    let labels = json(&out.join("labels.json"));
    let after = labels_of(&labels);
    assert_eq!(after.len(), before.len() - 1);
    let gone = (
        delete["frame"].as_u64().unwrap(),
        delete["track_id"].as_u64().unwrap(),
    );
    assert!(!after.contains(&gone), "the deleted label is out");
    let fixed = annotation(&labels, fix);
    assert_eq!(fixed["category_id"], 3, "bus");
    let want_box = [moved[0], moved[1], moved[2] - moved[0], moved[3] - moved[1]];
    assert_eq!(fixed["bbox"], json!(want_box));
    assert!(fixed["segmentation"].is_object() || fixed["segmentation"].is_array());
    assert_eq!(fixed["reviewed"], true);
    assert_eq!(annotation(&labels, accept)["reviewed"], true);
    let unreviewed = labels["annotations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["reviewed"] == false)
        .count();
    assert_eq!(unreviewed, after.len() - 2);
    assert_eq!(
        labels["info"]["review"],
        json!({"accepted": 1, "deleted": 1, "tracks_deleted": 0, "fixed": 1, "labels_removed": 1})
    );
    let mot = std::fs::read_to_string(out.join("tracks.txt")).unwrap();
    assert_eq!(mot.lines().count(), after.len());
    let saved = json(&out.join("review.json"));
    assert!(
        saved["edits"][1]["mask"]["counts"].is_string(),
        "SAM 2's mask kept"
    );
    let coco = run_oracle(
        "labels_check.py",
        &[
            out.join("labels.json").to_str().unwrap(),
            out.join("predictions.json").to_str().unwrap(),
        ],
    );
    let coco: Value = serde_json::from_str(&coco).unwrap();
    assert_eq!(
        coco["annotations"],
        after.len(),
        "pycocotools loads it: {coco}"
    );
    assert_eq!(coco["unmatched"], 0, "{coco}");

    // A decision on a label the run does not have: refused, naming the file
    // and the label; the reviewed exports stay as they were.
    let labels_bytes = std::fs::read(out.join("labels.json")).unwrap();
    write_review(
        &review,
        vec![json!({"frame": 0, "track_id": 999, "action": "delete"})],
    );
    let refused = run_command(&dataset, &ontology, &out)
        .arg("--review")
        .arg(&review)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let message = stderr(&refused);
    assert!(
        message.contains(&format!("--review {}", review.display()))
            && message.contains("frame 0 track 999: no such label in the run"),
        "{message}"
    );
    assert_eq!(
        std::fs::read(out.join("labels.json")).unwrap(),
        labels_bytes
    );
}

//! The class-confusion matrix: per frame, the greedy matcher (`matching`) run
//! with class ignored (predictions above the score threshold, by score, each
//! taking the free ground truth object of ANY class with the highest IoU ≥
//! the threshold). Row = ground truth class, column = predicted class; the
//! extra last column `missed` counts objects no prediction took, the extra
//! last row `background` predictions that took no object. Crowd regions take
//! no part. The diagonal is class-correct localisation; off-diagonal cells
//! are confusions such as truck → car.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::data::{Detection, GroundTruth};
use super::matching::greedy_match;
use super::metrics::{DetMasks, IouKind, ScoreGate, overlap};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Confusion {
    pub iou_threshold: f64,
    /// Row labels: the classes, then `background`.
    pub rows: Vec<String>,
    /// Column labels: the classes, then `missed`.
    pub columns: Vec<String>,
    /// `matrix[row][column]`.
    pub matrix: Vec<Vec<usize>>,
    /// Class-agnostic matches `(detection, object)`, for the failure queue.
    #[serde(skip)]
    pub matches: Vec<(usize, usize)>,
}

/// Builds the matrix from class-agnostic greedy matching.
pub fn confusion(
    gt: &GroundTruth,
    dets: &[Detection],
    kind: IouKind,
    iou_threshold: f64,
    gate: &ScoreGate,
) -> Confusion {
    let n = gt.categories.len();
    let class_of = |id: i64| gt.categories.iter().position(|c| c.id == id);
    let masks = DetMasks::new(gt, dets, kind);
    let mut matrix = vec![vec![0usize; n + 1]; n + 1];
    let mut matches = Vec::new();
    let mut by_image: HashMap<i64, (Vec<usize>, Vec<usize>)> = HashMap::new();
    for (g, o) in gt.objects.iter().enumerate() {
        if !o.iscrowd && class_of(o.category_id).is_some() {
            by_image.entry(o.image_id).or_default().0.push(g);
        }
    }
    for (d, p) in dets.iter().enumerate() {
        if gate.passes(p) && class_of(p.category_id).is_some() {
            by_image.entry(p.image_id).or_default().1.push(d);
        }
    }
    for image in &gt.images {
        let Some((objects, preds)) = by_image.get(&image.id) else {
            continue;
        };
        let scores: Vec<f64> = preds.iter().map(|&d| dets[d].score).collect();
        let m = greedy_match(
            &scores,
            objects.len(),
            |p, g| {
                let d = preds[p];
                overlap(kind, &dets[d], masks.get(d), &gt.objects[objects[g]], false)
            },
            iou_threshold,
        );
        for (p, matched) in m.pred_to_gt.iter().enumerate() {
            let col = class_of(dets[preds[p]].category_id).unwrap_or(n);
            let row = match matched {
                Some((g, _)) => {
                    matches.push((preds[p], objects[*g]));
                    class_of(gt.objects[objects[*g]].category_id).unwrap_or(n)
                }
                None => n,
            };
            matrix[row][col] += 1;
        }
        for (g, taken) in m.gt_to_pred.iter().enumerate() {
            if taken.is_none() {
                let row = class_of(gt.objects[objects[g]].category_id).unwrap_or(n);
                matrix[row][n] += 1;
            }
        }
    }
    let names: Vec<String> = gt.categories.iter().map(|c| c.name.clone()).collect();
    let mut rows = names.clone();
    rows.push("background".into());
    let mut columns = names;
    columns.push("missed".into());
    Confusion {
        iou_threshold,
        rows,
        columns,
        matrix,
        matches,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::data::{Category, GtObject, Image};

    #[test]
    fn a_truck_called_car_lands_off_the_diagonal() {
        let cat = |id: i64, name: &str| Category {
            id,
            name: name.into(),
        };
        let obj = |id: i64, category_id: i64, x: f64| GtObject {
            id,
            image_id: 1,
            category_id,
            bbox: [x, 0.0, 50.0, 50.0],
            area: 2500.0,
            iscrowd: false,
            mask: None,
            distance_m: None,
            visibility: None,
            source: None,
        };
        let gt = GroundTruth {
            images: vec![Image {
                id: 1,
                file_name: "a".into(),
                width: 800,
                height: 600,
            }],
            categories: vec![cat(1, "car"), cat(2, "truck")],
            objects: vec![obj(1, 1, 0.0), obj(2, 2, 100.0), obj(3, 2, 200.0)],
        };
        let dets = vec![
            Detection::from_box(1, 1, [0.0, 0.0, 50.0, 50.0], 0.9),
            Detection::from_box(1, 1, [100.0, 0.0, 50.0, 50.0], 0.8),
            Detection::from_box(1, 2, [500.0, 0.0, 50.0, 50.0], 0.7),
        ];
        let c = confusion(&gt, &dets, IouKind::Bbox, 0.5, &ScoreGate::all(0.0));
        assert_eq!(c.rows, ["car", "truck", "background"]);
        assert_eq!(c.columns, ["car", "truck", "missed"]);
        assert_eq!(c.matrix, vec![vec![1, 0, 0], vec![1, 0, 1], vec![0, 1, 0]]);
        assert_eq!(c.matches, vec![(0, 0), (1, 1)]);
    }
}

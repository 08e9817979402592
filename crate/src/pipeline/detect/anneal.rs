//! Iterative confidence annealing (TAO Auto-Label's `iteration_scheduler`), a
//! detect-stage option: a first pass at a high box threshold, then further
//! passes at lower thresholds for the classes still without labels only.
//!
//! - **Thresholds** ([`AnnealSettings::thresholds`]): pass `k` runs at the
//!   scheduler's value, never below the floor — stepwise `start − k·step`,
//!   exponential `start·decay^k`, or cosine `floor + (start − floor)·(1 +
//!   cos(π·k / (max_iterations − 1)))/2` — and the sequence ends at the first
//!   pass at the floor (a second would find the same) or after
//!   `max_iterations` passes.
//! - **Passes** ([`anneal`]): each pass asks the detector ([`PassDetector`],
//!   a trait so tests can script it) for the classes without labels at that
//!   threshold; its labels join the earlier passes' and are merged
//!   ([`Merge`]): class-wise greedy NMS, or DBSCAN clustering of each class's
//!   boxes with distance `1 − IoU` (a cluster becomes one label: the
//!   score-weighted mean box, the best member's score, pass and threshold;
//!   boxes in no cluster — fewer than `min_samples` neighbours — are dropped).
//! - **Termination**: every class has labels (nothing is left to re-detect),
//!   or the thresholds run out.
//!
//! Every label records the pass and threshold that produced it
//! ([`Detected::anneal`]). A pass runs every asked class at the pass's box
//! threshold: the ontology's box thresholds give way to the scheduler's (its
//! text thresholds still apply).

use serde::{Deserialize, Serialize};

use super::{
    AnnealPass, DetectSettings, Detected, DetectorModel, FrameDetector, box_iou, nms_keep,
};
use crate::data::frame::Frame;
use crate::pipeline::PipelineError;
use crate::pipeline::ontology::{Ontology, OntologyClass};

/// How the threshold falls from pass to pass.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Scheduler {
    /// `start − k·step`.
    Stepwise { step: f64 },
    /// `start·decay^k`, `decay` in (0, 1).
    Exponential { decay: f64 },
    /// Half a cosine from `start` to `floor` over `max_iterations` passes.
    Cosine,
}

/// How the passes' labels are merged.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Merge {
    /// Greedy NMS within each class, highest score first, at this box IoU.
    Nms { iou: f64 },
    /// DBSCAN within each class on the distance `1 − IoU`: neighbours are
    /// closer than `eps`; a core box has at least `min_samples` neighbours
    /// (itself included).
    Dbscan { eps: f64, min_samples: usize },
}

/// Settings of annealing.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnnealSettings {
    /// Box threshold of the first pass.
    pub start: f64,
    /// The lowest threshold a pass runs at.
    pub floor: f64,
    /// At most this many passes (the first included).
    pub max_iterations: usize,
    pub scheduler: Scheduler,
    pub merge: Merge,
}

impl Default for AnnealSettings {
    /// TAO's defaults: start at 0.5, step down by 0.1 to 0.2, merge by NMS at 0.5.
    fn default() -> Self {
        AnnealSettings {
            start: 0.5,
            floor: 0.2,
            max_iterations: 4,
            scheduler: Scheduler::Stepwise { step: 0.1 },
            merge: Merge::Nms { iou: 0.5 },
        }
    }
}

/// Settings annealing cannot run with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AnnealError {
    #[error("the floor {floor} is above the start threshold {start}")]
    FloorAboveStart { start: f64, floor: f64 },
    #[error("{which} {value} is not in (0, 1]")]
    Threshold { which: &'static str, value: f64 },
    #[error("max_iterations must be at least 1")]
    NoIterations,
    #[error("stepwise step {0} must be positive")]
    Step(f64),
    #[error("exponential decay {0} must be in (0, 1)")]
    Decay(f64),
    #[error("{0}")]
    Merge(String),
    #[error("{0}")]
    Json(String),
}

impl AnnealSettings {
    /// Settings from their JSON text (`{}`: the defaults; unknown fields
    /// refused), checked: what `--anneal FILE` and the page read.
    pub fn from_json(text: &str) -> Result<Self, AnnealError> {
        let settings: AnnealSettings =
            serde_json::from_str(text).map_err(|e| AnnealError::Json(e.to_string()))?;
        settings.check()?;
        Ok(settings)
    }

    /// Refuses settings that cannot anneal.
    pub fn check(&self) -> Result<(), AnnealError> {
        for (which, value) in [("start", self.start), ("floor", self.floor)] {
            if !(value > 0.0 && value <= 1.0) {
                return Err(AnnealError::Threshold { which, value });
            }
        }
        if self.floor > self.start {
            return Err(AnnealError::FloorAboveStart {
                start: self.start,
                floor: self.floor,
            });
        }
        if self.max_iterations == 0 {
            return Err(AnnealError::NoIterations);
        }
        match self.scheduler {
            Scheduler::Stepwise { step } if step.is_nan() || step <= 0.0 => {
                return Err(AnnealError::Step(step));
            }
            Scheduler::Exponential { decay } if !(decay > 0.0 && decay < 1.0) => {
                return Err(AnnealError::Decay(decay));
            }
            _ => {}
        }
        match self.merge {
            Merge::Nms { iou } if !(iou > 0.0 && iou <= 1.0) => Err(AnnealError::Merge(format!(
                "NMS iou {iou} is not in (0, 1]"
            ))),
            Merge::Dbscan { eps, .. } if !(eps > 0.0 && eps <= 1.0) => Err(AnnealError::Merge(
                format!("DBSCAN eps {eps} is not in (0, 1]"),
            )),
            Merge::Dbscan { min_samples: 0, .. } => Err(AnnealError::Merge(
                "DBSCAN min_samples must be at least 1".into(),
            )),
            _ => Ok(()),
        }
    }

    /// The threshold of each pass, in order.
    pub fn thresholds(&self) -> Result<Vec<f64>, AnnealError> {
        self.check()?;
        let mut out = Vec::new();
        for k in 0..self.max_iterations {
            let t = self.scheduled(k).max(self.floor);
            out.push(t);
            if t <= self.floor {
                break;
            }
        }
        Ok(out)
    }

    /// The scheduler's value at pass `k`.
    fn scheduled(&self, k: usize) -> f64 {
        match self.scheduler {
            Scheduler::Stepwise { step } => self.start - k as f64 * step,
            Scheduler::Exponential { decay } => self.start * decay.powi(k as i32),
            Scheduler::Cosine if self.max_iterations == 1 => self.start,
            Scheduler::Cosine => {
                let phase = std::f64::consts::PI * k as f64 / (self.max_iterations - 1) as f64;
                self.floor + (self.start - self.floor) * (1.0 + phase.cos()) / 2.0
            }
        }
    }
}

/// A detector that can run one pass: the detections of `classes` (indices
/// into the class list) at box threshold `threshold`.
pub trait PassDetector {
    fn detect(&mut self, classes: &[usize], threshold: f64)
    -> Result<Vec<Detected>, PipelineError>;
}

impl<F> PassDetector for F
where
    F: FnMut(&[usize], f64) -> Result<Vec<Detected>, PipelineError>,
{
    fn detect(
        &mut self,
        classes: &[usize],
        threshold: f64,
    ) -> Result<Vec<Detected>, PipelineError> {
        self(classes, threshold)
    }
}

/// What one pass did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PassRecord {
    pub pass: usize,
    pub threshold: f64,
    /// The classes it asked for.
    pub classes: Vec<String>,
    /// Detections it returned (of those classes).
    pub found: usize,
    /// Its labels left after the merge.
    pub kept: usize,
}

/// The labels of an annealed detection (each with its [`AnnealPass`]) and
/// its passes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Annealed {
    pub labels: Vec<Detected>,
    pub passes: Vec<PassRecord>,
}

/// Anneals one image's detection over `classes` (the class list the
/// detector's indices refer to).
pub fn anneal(
    detector: &mut impl PassDetector,
    classes: &[String],
    settings: &AnnealSettings,
) -> Result<Annealed, PipelineError> {
    let thresholds = settings.thresholds()?;
    let mut labels: Vec<Detected> = Vec::new();
    let mut passes = Vec::new();
    for (pass, &threshold) in thresholds.iter().enumerate() {
        let remaining: Vec<usize> = (0..classes.len())
            .filter(|&c| !labels.iter().any(|l| l.class == classes[c]))
            .collect();
        if remaining.is_empty() {
            break;
        }
        let asked: Vec<&String> = remaining.iter().map(|&c| &classes[c]).collect();
        let mark = AnnealPass { pass, threshold };
        let found: Vec<Detected> = detector
            .detect(&remaining, threshold)?
            .into_iter()
            .filter(|d| asked.contains(&&d.class))
            .map(|detection| Detected {
                anneal: Some(mark),
                ..detection
            })
            .collect();
        let count = found.len();
        labels.extend(found);
        labels = merge(labels, settings.merge);
        passes.push(PassRecord {
            pass,
            threshold,
            classes: asked.into_iter().cloned().collect(),
            found: count,
            kept: labels.iter().filter(|l| l.anneal == Some(mark)).count(),
        });
    }
    Ok(Annealed { labels, passes })
}

/// Merges labels by `merge`; survivors keep their order (DBSCAN: a cluster
/// takes the place of its best member).
pub fn merge(labels: Vec<Detected>, merge: Merge) -> Vec<Detected> {
    match merge {
        Merge::Nms { iou } => {
            let keep = nms_keep(&labels, iou);
            labels
                .into_iter()
                .zip(keep)
                .filter_map(|(l, keep)| keep.then_some(l))
                .collect()
        }
        Merge::Dbscan { eps, min_samples } => dbscan_merge(&labels, eps, min_samples),
    }
}

/// DBSCAN within each class; one label per cluster, noise dropped.
fn dbscan_merge(labels: &[Detected], eps: f64, min_samples: usize) -> Vec<Detected> {
    let cluster = dbscan(labels, eps, min_samples);
    let clusters = cluster.iter().flatten().max().map_or(0, |&c| c + 1);
    let mut merged: Vec<(usize, Detected)> = (0..clusters)
        .filter_map(|c| {
            let members: Vec<usize> = (0..labels.len())
                .filter(|&i| cluster[i] == Some(c))
                .collect();
            let &best = members
                .iter()
                .max_by(|&&a, &&b| labels[a].score.total_cmp(&labels[b].score).then(b.cmp(&a)))?;
            let weight: f64 = members.iter().map(|&i| labels[i].score).sum();
            let mut bbox = [0.0; 4];
            for &i in &members {
                let d = &labels[i];
                for (v, b) in bbox.iter_mut().zip(d.bbox) {
                    *v += b * d.score / weight;
                }
            }
            let mut label = labels[best].clone();
            label.bbox = bbox;
            Some((best, label))
        })
        .collect();
    merged.sort_by_key(|(best, _)| *best);
    merged.into_iter().map(|(_, l)| l).collect()
}

/// DBSCAN's cluster of each label (`None`: noise). Labels of different
/// classes are never neighbours; points are visited highest score first.
fn dbscan(labels: &[Detected], eps: f64, min_samples: usize) -> Vec<Option<usize>> {
    let neighbours = |i: usize| -> Vec<usize> {
        (0..labels.len())
            .filter(|&j| {
                let (a, b) = (&labels[i], &labels[j]);
                a.class == b.class && 1.0 - box_iou(a.bbox, b.bbox) < eps
            })
            .collect()
    };
    let mut order: Vec<usize> = (0..labels.len()).collect();
    order.sort_by(|&a, &b| labels[b].score.total_cmp(&labels[a].score));
    let mut cluster: Vec<Option<usize>> = vec![None; labels.len()];
    let mut visited = vec![false; labels.len()];
    let mut next = 0;
    for i in order {
        if visited[i] {
            continue;
        }
        visited[i] = true;
        let seeds = neighbours(i);
        if seeds.len() < min_samples {
            continue;
        }
        cluster[i] = Some(next);
        let mut queue = seeds;
        while let Some(j) = queue.pop() {
            if cluster[j].is_none() {
                cluster[j] = Some(next);
            }
            if !visited[j] {
                visited[j] = true;
                let more = neighbours(j);
                if more.len() >= min_samples {
                    queue.extend(more);
                }
            }
        }
        next += 1;
    }
    cluster
}

/// The detector (Grounding DINO or OWLv2) as a [`PassDetector`] on one
/// frame: each pass reads the caption of the asked classes only, each class
/// at the pass's box threshold (and, for Grounding DINO, its own text
/// threshold).
pub struct OntologyPasses<'a> {
    pub detector: &'a DetectorModel,
    pub ontology: &'a Ontology,
    pub frame: &'a Frame,
    pub settings: DetectSettings,
}

impl PassDetector for OntologyPasses<'_> {
    fn detect(
        &mut self,
        classes: &[usize],
        threshold: f64,
    ) -> Result<Vec<Detected>, PipelineError> {
        let sub = Ontology {
            classes: classes
                .iter()
                .filter_map(|&c| self.ontology.classes.get(c))
                .map(|c| OntologyClass {
                    box_threshold: threshold as f32,
                    ..c.clone()
                })
                .collect(),
        };
        let names: Vec<String> = sub.classes.iter().map(|c| c.name.clone()).collect();
        let caption = sub.caption(&names)?;
        let runner = FrameDetector::new(self.detector, &sub, caption, self.settings.clone())?;
        Ok(runner.detect(self.frame)?.detections)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(class: &str, score: f64, bbox: [f64; 4]) -> Detected {
        Detected {
            bbox,
            score,
            class: class.into(),
            phrase: class.into(),
            anneal: None,
        }
    }

    fn settings(scheduler: Scheduler, start: f64, floor: f64, max: usize) -> AnnealSettings {
        AnnealSettings {
            start,
            floor,
            max_iterations: max,
            scheduler,
            ..AnnealSettings::default()
        }
    }

    fn close(got: &[f64], want: &[f64]) {
        assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-12, "{got:?} vs {want:?}");
        }
    }

    #[test]
    fn each_scheduler_steps_down_to_the_floor() {
        let step = settings(Scheduler::Stepwise { step: 0.1 }, 0.5, 0.2, 10);
        close(&step.thresholds().unwrap(), &[0.5, 0.4, 0.3, 0.2]);
        let cut = settings(Scheduler::Stepwise { step: 0.1 }, 0.5, 0.2, 2);
        close(&cut.thresholds().unwrap(), &[0.5, 0.4]);
        let exp = settings(Scheduler::Exponential { decay: 0.5 }, 0.5, 0.1, 10);
        close(&exp.thresholds().unwrap(), &[0.5, 0.25, 0.125, 0.1]);
        let cos = settings(Scheduler::Cosine, 0.5, 0.1, 5);
        let s = std::f64::consts::FRAC_1_SQRT_2;
        close(
            &cos.thresholds().unwrap(),
            &[0.5, 0.1 + 0.2 * (1.0 + s), 0.3, 0.1 + 0.2 * (1.0 - s), 0.1],
        );
        close(
            &settings(Scheduler::Cosine, 0.5, 0.1, 1)
                .thresholds()
                .unwrap(),
            &[0.5],
        );
    }

    #[test]
    fn bad_settings_are_refused() {
        let e = settings(Scheduler::Cosine, 0.3, 0.5, 3)
            .thresholds()
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "the floor 0.5 is above the start threshold 0.3"
        );
        let zero = settings(Scheduler::Cosine, 0.5, 0.1, 0);
        assert_eq!(zero.check(), Err(AnnealError::NoIterations));
        let decay = settings(Scheduler::Exponential { decay: 1.0 }, 0.5, 0.1, 3);
        assert_eq!(decay.check(), Err(AnnealError::Decay(1.0)));
        let step = settings(Scheduler::Stepwise { step: 0.0 }, 0.5, 0.1, 3);
        assert_eq!(step.check(), Err(AnnealError::Step(0.0)));
        let bad_merge = AnnealSettings {
            merge: Merge::Dbscan {
                eps: 0.3,
                min_samples: 0,
            },
            ..AnnealSettings::default()
        };
        assert!(bad_merge.check().is_err());
        let json = r#"{"start": 0.6, "scheduler": {"kind": "exponential", "decay": 0.7},
                       "merge": {"kind": "dbscan", "eps": 0.4, "min_samples": 2}}"#;
        let parsed = AnnealSettings::from_json(json).unwrap();
        assert_eq!(parsed.scheduler, Scheduler::Exponential { decay: 0.7 });
        assert_eq!((parsed.start, parsed.floor), (0.6, 0.2));
        assert_eq!(
            AnnealSettings::from_json("{}").unwrap(),
            AnnealSettings::default()
        );
        let e = AnnealSettings::from_json(r#"{"start": 0.3, "floor": 0.5}"#).unwrap_err();
        assert_eq!(
            e,
            AnnealError::FloorAboveStart {
                start: 0.3,
                floor: 0.5
            }
        );
        let e = AnnealSettings::from_json(r#"{"begin": 0.3}"#).unwrap_err();
        assert!(e.to_string().contains("unknown field `begin`"), "{e}");
    }

    /// A detector scripted per threshold: every detection of `script` whose
    /// score passes the threshold and whose class is asked.
    fn scripted(
        classes: &[String],
        script: Vec<Detected>,
        asked: &mut Vec<Vec<String>>,
    ) -> impl FnMut(&[usize], f64) -> Result<Vec<Detected>, PipelineError> {
        let classes = classes.to_vec();
        move |ask: &[usize], threshold: f64| {
            asked.push(ask.iter().map(|&c| classes[c].clone()).collect());
            Ok(script
                .iter()
                .filter(|d| d.score > threshold && ask.iter().any(|&c| classes[c] == d.class))
                .cloned()
                .collect())
        }
    }

    /// The pass mark every annealed label carries.
    fn pass(label: &Detected) -> AnnealPass {
        label.anneal.expect("an annealed label records its pass")
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn later_passes_ask_only_for_classes_without_labels() {
        let classes = names(&["car", "bus", "pedestrian"]);
        let script = vec![
            det("car", 0.9, [0.0, 0.0, 10.0, 10.0]),
            det("car", 0.35, [40.0, 0.0, 50.0, 10.0]),
            det("bus", 0.45, [20.0, 0.0, 30.0, 10.0]),
        ];
        let mut asked = Vec::new();
        let s = settings(Scheduler::Stepwise { step: 0.1 }, 0.5, 0.2, 10);
        let out = anneal(&mut scripted(&classes, script, &mut asked), &classes, &s).unwrap();
        assert_eq!(
            asked,
            [
                names(&["car", "bus", "pedestrian"]),
                names(&["bus", "pedestrian"]),
                names(&["pedestrian"]),
                names(&["pedestrian"]),
            ],
            "the 0.35 car is never asked for: car has a label from pass 0"
        );
        let got: Vec<(&str, usize)> = out
            .labels
            .iter()
            .map(|l| (l.class.as_str(), pass(l).pass))
            .collect();
        assert_eq!(got, [("car", 0), ("bus", 1)]);
        let thresholds: Vec<f64> = out.labels.iter().map(|l| pass(l).threshold).collect();
        close(&thresholds, &[0.5, 0.4]);
        let kept: Vec<usize> = out.passes.iter().map(|p| p.kept).collect();
        assert_eq!(kept, [1, 1, 0, 0]);
    }

    #[test]
    fn annealing_stops_when_every_class_has_labels() {
        let classes = names(&["car", "bus"]);
        let script = vec![
            det("car", 0.9, [0.0, 0.0, 10.0, 10.0]),
            det("bus", 0.46, [20.0, 0.0, 30.0, 10.0]),
        ];
        let mut asked = Vec::new();
        let s = settings(Scheduler::Exponential { decay: 0.9 }, 0.5, 0.05, 20);
        let out = anneal(&mut scripted(&classes, script, &mut asked), &classes, &s).unwrap();
        assert_eq!(asked.len(), 2, "pass 1 found the bus: nothing left");
        assert_eq!(out.passes.len(), 2);
        assert_eq!(pass(&out.labels[1]).threshold, 0.45);
    }

    /// Two overlapping buses (IoU 90/110) and a far one, found in pass 1.
    fn buses() -> (Vec<String>, Vec<Detected>) {
        let classes = names(&["car", "bus"]);
        let script = vec![
            det("car", 0.9, [0.0, 0.0, 10.0, 10.0]),
            det("bus", 0.4, [0.0, 20.0, 10.0, 30.0]),
            det("bus", 0.35, [1.0, 20.0, 11.0, 30.0]),
            det("bus", 0.3, [50.0, 50.0, 60.0, 60.0]),
        ];
        (classes, script)
    }

    #[test]
    fn nms_keeps_the_best_of_overlapping_boxes() {
        let (classes, script) = buses();
        let s = AnnealSettings {
            merge: Merge::Nms { iou: 0.5 },
            ..settings(Scheduler::Stepwise { step: 0.25 }, 0.5, 0.25, 2)
        };
        let out = anneal(
            &mut scripted(&classes, script.clone(), &mut Vec::new()),
            &classes,
            &s,
        )
        .unwrap();
        let boxes: Vec<[f64; 4]> = out.labels.iter().map(|l| l.bbox).collect();
        assert_eq!(boxes, [script[0].bbox, script[1].bbox, script[3].bbox]);
        assert_eq!(out.passes[1].found, 3);
        assert_eq!(out.passes[1].kept, 2);
    }

    #[test]
    fn dbscan_averages_a_cluster_and_drops_noise() {
        let (classes, script) = buses();
        let dbscan = |min_samples| AnnealSettings {
            merge: Merge::Dbscan {
                eps: 0.3,
                min_samples,
            },
            ..settings(Scheduler::Stepwise { step: 0.25 }, 0.5, 0.25, 2)
        };
        let out = anneal(
            &mut scripted(&classes, script.clone(), &mut Vec::new()),
            &classes,
            &dbscan(1),
        )
        .unwrap();
        assert_eq!(out.labels.len(), 3);
        let bus = &out.labels[1];
        // Score-weighted mean of x: (0·0.4 + 1·0.35) / 0.75 = 7/15.
        let x0 = 0.35 / 0.75;
        close(&bus.bbox, &[x0, 20.0, 10.0 + x0, 30.0]);
        assert_eq!(
            (bus.score, pass(bus)),
            (
                0.4,
                AnnealPass {
                    pass: 1,
                    threshold: 0.25
                }
            )
        );
        assert_eq!(out.labels[2].bbox, script[3].bbox);
        let strict = anneal(
            &mut scripted(&classes, script, &mut Vec::new()),
            &classes,
            &dbscan(2),
        )
        .unwrap();
        let kept: Vec<&str> = strict.labels.iter().map(|l| l.class.as_str()).collect();
        assert_eq!(
            kept,
            ["bus"],
            "the lone car and the far bus are noise at min_samples 2"
        );
    }
}

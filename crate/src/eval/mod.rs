//! Evaluation and analysis: how good are the automatic labels, where do they
//! fail, and what do they save.
//!
//! - `matching`: the seed's greedy matcher (per frame, per class); `metrics`:
//!   TP/FP/FN, precision, recall per class and overall.
//! - `cocoeval`: COCO AP and AR, a port of pycocotools' `COCOeval`
//!   (`pycocotools/cocoeval.py`), equal to it to floating-point noise.
//! - `bins`: recall by distance, box size and visibility; `confusion`: the
//!   class-confusion matrix.
//! - `failures`: the ranked queue of cases for human review; `frames`: what
//!   the matching made of each object, frame by frame (the viewer's colours).
//! - `cost`: $/label automatic versus manual and fleet totals; `verdict`: the
//!   generated one-line judgement.
//!
//! Definitions, including every 0/0, are in `docs/eval.md`. Everything here is
//! a plain function over plain serde data (`data`), so the CLI, the page and
//! the tests run the same code.

pub mod bins;
pub mod cocoeval;
pub mod confusion;
pub mod cost;
pub mod data;
pub mod failures;
pub mod frames;
pub mod matching;
pub mod metrics;
pub mod verdict;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use bins::{BinAxis, BinLimits, recall_bins};
use cocoeval::{CocoStats, CocoSummary, coco_eval};
use confusion::{Confusion, confusion};
use cost::{CostModel, CostTable};
use data::{Detection, GroundTruth};
use failures::{FailureParams, FailureQueue, failure_queue};
use metrics::{ClassCounts, IouKind, ScoreGate, evaluate_greedy};
use verdict::{Verdict, VerdictThresholds, verdict};

/// Every parameter of an evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvalConfig {
    /// IoU a prediction needs to match (greedy matcher, confusion matrix).
    pub iou_threshold: f64,
    /// Predictions below this score are left out of the greedy metrics (COCO
    /// AP always uses every prediction: it integrates over the score).
    pub score_threshold: f64,
    /// Score thresholds of single classes (by name), replacing
    /// `score_threshold` for them: what moving one class's slider changes.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub class_score_thresholds: BTreeMap<String, f64>,
    pub bins: BinLimits,
    pub failures: FailureParams,
    pub cost: CostModel,
    pub verdict: VerdictThresholds,
}

impl Default for EvalConfig {
    fn default() -> Self {
        EvalConfig {
            iou_threshold: 0.5,
            score_threshold: 0.0,
            class_score_thresholds: BTreeMap::new(),
            bins: BinLimits::default(),
            failures: FailureParams::default(),
            cost: CostModel::default(),
            verdict: VerdictThresholds::default(),
        }
    }
}

/// A class's row of the metrics table: greedy counts and COCO AP.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassRow {
    #[serde(flatten)]
    pub counts: ClassCounts,
    /// COCO AP at IoU 0.5 and averaged over 0.50:0.95 (`null` without ground truth).
    pub ap50: Option<f64>,
    pub ap: Option<f64>,
}

/// The metrics of one IoU kind (boxes or masks).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KindReport {
    pub iou: IouKind,
    pub per_class: Vec<ClassRow>,
    pub overall: ClassCounts,
    /// COCOeval's 12 summary numbers by name (−1: undefined, as pycocotools).
    pub coco: CocoSummary,
    /// The same in pycocotools' `stats` order.
    pub coco_stats: [f64; 12],
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    pub iou_threshold: f64,
    pub score_threshold: f64,
    /// The classes evaluated at a score threshold of their own.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub class_score_thresholds: BTreeMap<String, f64>,
    pub images: usize,
    pub ground_truth: usize,
    pub predictions: usize,
    pub bbox: KindReport,
    /// Mask metrics, when every ground truth object has a mask.
    pub segm: Option<KindReport>,
    pub recall_bins: Vec<BinAxis>,
    pub confusion: Confusion,
    pub failures: FailureQueue,
    pub cost: CostTable,
    pub verdict: Verdict,
    /// What was skipped and why.
    pub notes: Vec<String>,
}

fn kind_report(
    gt: &GroundTruth,
    dets: &[Detection],
    kind: IouKind,
    config: &EvalConfig,
) -> (KindReport, metrics::GreedyResult) {
    let greedy = evaluate_greedy(
        gt,
        dets,
        kind,
        config.iou_threshold,
        &score_gate(gt, config),
    );
    let coco: CocoStats = coco_eval(gt, dets, kind);
    let per_class = greedy
        .per_class
        .iter()
        .map(|c| {
            let ap = coco
                .per_category
                .iter()
                .find(|a| Some(a.category_id) == c.category_id);
            ClassRow {
                counts: c.clone(),
                ap50: ap.and_then(|a| a.ap50),
                ap: ap.and_then(|a| a.ap),
            }
        })
        .collect();
    let report = KindReport {
        iou: kind,
        per_class,
        overall: greedy.overall.clone(),
        coco: CocoSummary::from(coco.stats),
        coco_stats: coco.stats,
    };
    (report, greedy)
}

/// The score gate of `config` over `gt`'s category ids.
fn score_gate(gt: &GroundTruth, config: &EvalConfig) -> ScoreGate {
    ScoreGate {
        default: config.score_threshold,
        per_category: gt
            .categories
            .iter()
            .filter_map(|c| Some((c.id, *config.class_score_thresholds.get(&c.name)?)))
            .collect(),
    }
}

/// "score 0.3" or "score 0.3 (car 0.5, bus 0.4)".
fn threshold_words(config: &EvalConfig) -> String {
    let mut words = format!("score {}", config.score_threshold);
    if !config.class_score_thresholds.is_empty() {
        let classes: Vec<String> = config
            .class_score_thresholds
            .iter()
            .map(|(c, t)| format!("{c} {t}"))
            .collect();
        words.push_str(&format!(" ({})", classes.join(", ")));
    }
    words
}

/// Evaluates `dets` against `gt`: metrics, bins, confusion, failure queue,
/// cost table and verdict. Inputs are assumed valid (see `export::coco` for
/// checked import).
pub fn evaluate(gt: &GroundTruth, dets: &[Detection], config: &EvalConfig) -> EvalReport {
    let (bbox, greedy) = kind_report(gt, dets, IouKind::Bbox, config);
    let gate = score_gate(gt, config);
    let mut notes = Vec::new();
    let unmasked = gt.objects.iter().filter(|o| o.mask.is_none()).count();
    let segm = if gt.objects.is_empty() || unmasked > 0 {
        notes.push(format!(
            "mask metrics skipped: {unmasked} of {} ground-truth objects have no mask",
            gt.objects.len()
        ));
        None
    } else {
        Some(kind_report(gt, dets, IouKind::Segm, config).0)
    };
    let below = dets.iter().filter(|d| !gate.passes(d)).count();
    if below > 0 {
        notes.push(format!(
            "{below} predictions below {} left out of the greedy metrics (COCO AP uses them)",
            threshold_words(config)
        ));
    }
    for class in config.class_score_thresholds.keys() {
        if !gt.categories.iter().any(|c| &c.name == class) {
            notes.push(format!(
                "score threshold of '{class}' unused: the ground truth has no such class"
            ));
        }
    }
    let rows: Vec<ClassCounts> = greedy.per_class.clone();
    EvalReport {
        iou_threshold: config.iou_threshold,
        score_threshold: config.score_threshold,
        class_score_thresholds: config.class_score_thresholds.clone(),
        images: gt.images.len(),
        ground_truth: gt.objects.len(),
        predictions: dets.len(),
        recall_bins: recall_bins(gt, &greedy, &config.bins),
        confusion: confusion(gt, dets, IouKind::Bbox, config.iou_threshold, &gate),
        failures: failure_queue(gt, dets, &greedy, &config.failures),
        cost: config.cost.table(&rows, &greedy.overall, gt.images.len()),
        verdict: verdict(&rows, &config.verdict),
        bbox,
        segm,
        notes,
    }
}

//! `autolabel run --review FILE`: a person's decisions on the run's labels
//! (the page's QA queue saves them, or they are written by hand), applied
//! before the export.

use std::fmt::Display;

use autolabel::data::classes::ClassMap;
use autolabel::pipeline::TrackOutput;
use autolabel::pipeline::input::Input;
use autolabel::pipeline::review::{Review, Reviewed, fix_mask};

use super::{Result, Runner, pretty, say, store};

/// The reviewed labels when `--review` was given: the file read and checked
/// against the run's tracks and class table, each fix that moves a box
/// without a mask segmented by the segmenter on its frame, and the completed
/// review saved as the run's `review.json`.
pub(super) fn reviewed(
    runner: &mut Runner,
    input: &mut Input,
    classes: &ClassMap,
    tracks: &TrackOutput,
) -> Result<Option<Reviewed>> {
    let Some(path) = &runner.args.review else {
        return Ok(None);
    };
    let at = |e: &dyn Display| format!("--review {}: {e}", path.display());
    let bytes = std::fs::read(path).map_err(|e| at(&e))?;
    let mut review: Review = serde_json::from_slice(&bytes).map_err(|e| at(&e))?;
    review.check(tracks, &classes.classes).map_err(|e| at(&e))?;
    let unsegmented = review.unsegmented(tracks);
    for (label, fix) in &unsegmented {
        let frame = input
            .clip
            .frame(label.frame)
            .map_err(|e| at(&format!("{label}: {e}")))?;
        let mask = fix_mask(runner.segmenter()?, &frame, fix).map_err(|e| at(&e))?;
        review.set_mask(*label, mask);
    }
    let reviewed = review.apply(tracks).map_err(|e| at(&e))?;
    store::write_atomic(&runner.store.path("review.json"), &pretty(&review)?)?;
    let s = reviewed.summary;
    say(
        runner.args,
        &format!(
            "review: {} accepted, {} fixed ({} segmented again), {} deleted, {} track(s) deleted \
             ({} labels left out)",
            s.accepted,
            s.fixed,
            unsegmented.len(),
            s.deleted,
            s.tracks_deleted,
            s.labels_removed
        ),
    );
    Ok(Some(reviewed))
}

// The pipeline's operations in the compute worker (web/worker.js): one
// PipelineSession (web/src/pipeline.rs) holds the clip, the detector, the
// segmenter and every stage's output; these ops load models into it, run its
// stages step by step with progress, cancel between steps and hand out its
// files. What a step does is the core's; this file only loops and reports.
//
//   pipelineOpen       {source}                       → {defaults: {ontology}, frames, width, height}
//                      source: {kind: 'demo', small}
//                            | {kind: 'frames', folder, fps, files: [File]}   (the clip's frames, by name)
//                            | {kind: 'video', file, maxFrames}   (an MP4: the core indexes it, the browser decodes it)
//                            | {kind: 'nuscenes', root, version, scene, channel, maxFrames,
//                               tables: {name: File}, images: {path: File}}  (dataroot-relative paths)
//   pipelineModel      {slot, source, name}           → {source, sha256, bytes, ...} (slot: detector | segmenter | tracker;
//                                                       source null for the tracker: none, tracks join the keyframes)
//   pipelineRun        {settings, keep}               → {status: done | cancelled, plan, stages, report}
//                      progress: {text, done, total, stage, stages} | {saved: meta} | {warning}
//                      keep: {models, ...} (the Run panel's meta): the run is kept in OPFS (web/run-store.js)
//   pipelineSaved      {}                             → meta | null  (the clip's kept run)
//   pipelineResume     {}                             → {plan, stages, meta} (the kept run taken up; Run goes on)
//   pipelineForget     {}                             → {}
//   pipelineCancel     {}                             → {running}  (the run stops after its current step)
//   pipelineThresholds {thresholds: {class: t}}       → {report}   (re-evaluated, nothing detected again)
//   pipelineOntology   {text, name}                   → ontology   (a file's text, read by the core: JSON, or noun chunks if NAME.jsonl)
//   pipelineLabelled   {index}                        → {bitmap} | null  (the frame with its labels drawn)
//   pipelineMatches    {index}                        → FrameMatches | null (the evaluation's TP/FP/FN of a frame)
//   pipelineVideoPlan  {}                             → {frames, fps, width, height} (the propagation video's frames)
//   pipelineQueue      {}                             → {items, edits, summary, stages} (the QA queue, hardest first)
//   pipelineDecide     {edit}                         → {edits, summary, stages} (edit: {frame, track_id, action, …} as in review.json)
//   pipelineUndo       {label: {frame, track_id}}     → {edits, summary, stages}
//   pipelineReviewLoad {text, name}                   → {edits, summary, stages} (a saved review.json taken up)
//   pipelineFile       {name}                         → {bytes}    (tracks.txt, labels.json, training.zip, report.html, review.json, …)

import { nuscenesTables, rangeReader, syncReader } from './page-files.js';
import { VideoBridge } from './video-bridge.js';
import { forgetRun, loadRun, saveRun, savedMeta } from './run-store.js';

// A running run is kept when it stops, and in between at most every second, and never so often that
// keeping it takes more than a tenth of the time (the tracker's state is MiBs).
const KEEP_EVERY_MS = 1000;

/** Lets the worker read its message queue (a Cancel) between two steps. */
const yieldToMessages = () => new Promise((resolve) => setTimeout(resolve, 0));

const describeStep = (stage, stages) => {
  const s = stages.find((x) => x.stage === stage);
  return s ? { text: `${stage} ${s.done}/${s.total}`, done: s.done, total: s.total } : { text: stage };
};

/**
 * The PipelineSession of a clip `source` (see pipelineOpen); its files are
 * read when a stage needs them. A video's frames come from `bridge` (a
 * VideoBridge, which the caller closes with the session).
 */
async function openSource(api, source, bridge, progress) {
  progress({ text: 'preparing the clip for the pipeline…' });
  switch (source.kind) {
    case 'demo':
      return api.PipelineSession.demo(Boolean(source.small));
    case 'frames': {
      const { folder, fps, files } = source;
      const byName = new Map(files.map((f) => [f.name, f]));
      return api.PipelineSession.folder(folder, [...byName.keys()], fps, syncReader(byName, 'not in the folder'));
    }
    case 'video': {
      const { file, maxFrames } = source;
      return api.PipelineSession.video(file.name, file.size, rangeReader(file), bridge, maxFrames);
    }
    case 'nuscenes': {
      const { root, version, scene, channel, maxFrames, tables, images } = source;
      const collected = await nuscenesTables(api, version, tables, progress);
      progress({ text: `projecting the ground truth of ${scene}…` });
      const read = syncReader(new Map(Object.entries(images)), 'not in the folder');
      return api.PipelineSession.nuscenes(root, collected, version, scene, channel, maxFrames, read);
    }
    default:
      throw new Error(`the pipeline cannot open a clip of kind '${source.kind}'`);
  }
}

/**
 * The ops over one session. `deps`: {wasm() (loads the module), api() (its
 * exports), checkpointFiles(source, progress), serial(work) (one model call at
 * a time), transfer(result, objects) (a result whose buffers move, not copy)}.
 */
export function pipelineOps({ wasm, api, checkpointFiles, serial, transfer }) {
  let session = null;
  let bridge = null; // the video decoder of a video clip
  let cancelRequested = false;
  let running = false;
  let keep = null; // the Run panel's meta of the run being kept, or null
  let keepFailed = false;

  /** Keeps the session's run in OPFS with `status`; says what was kept, or (once) why it could not be. */
  async function keepRun(status, progress) {
    if (!keep || keepFailed) return;
    const run = session.savedRun();
    if (!run) return;
    const stages = session.stages().map(({ stage, status: s, done, total }) => ({ stage, status: s, done, total }));
    const meta = { ...keep, identity: session.identity(), status, stages, savedAt: Date.now() };
    try {
      await saveRun(meta.identity, meta, run, session.savedTracker() ?? null);
      progress?.({ saved: meta });
    } catch (e) {
      keepFailed = true;
      progress?.({
        warning: `the run is not kept in this browser's storage (${e.name}: ${e.message}): it goes on, but a reload ` +
          'cannot take it up. Free some storage (or allow it for this site) and Run again to keep it.',
      });
    }
  }

  const open = () => {
    if (!session) throw new Error('no clip in the pipeline: open a clip first');
    return session;
  };

  return {
    async pipelineOpen({ source }, progress) {
      progress({ text: 'loading wasm…' });
      await wasm();
      session?.free();
      session = null;
      bridge?.close();
      bridge = null;
      keep = null;
      if (source.kind === 'video') bridge = await VideoBridge.open(source.file);
      session = await openSource(api(), source, bridge, progress);
      const { width, height } = session.frameSize();
      return { defaults: { ontology: JSON.parse(api().seedOntology()) }, width, height };
    },

    async pipelineModel({ slot, source, name }, progress) {
      const pipeline = open();
      if (slot === 'tracker' && source === null) {
        return serial(() => {
          pipeline.setTracker(undefined, undefined, name);
          return { source: null };
        });
      }
      const { config, weights, report } = await checkpointFiles(source, progress);
      progress({ text: `building the ${slot} (${name})…` });
      return serial(() => {
        const t0 = performance.now();
        if (slot === 'detector') pipeline.setDetector(config, weights, name);
        else if (slot === 'segmenter') pipeline.setSegmenter(config, weights, name);
        else if (slot === 'tracker') pipeline.setTracker(config, weights, name);
        else throw new Error(`unknown model slot '${slot}'`);
        return { ...report, loadMs: performance.now() - t0 };
      });
    },

    async pipelineRun({ settings, keep: meta }, progress) {
      const pipeline = open();
      if (running) throw new Error('the pipeline is already running');
      running = true;
      cancelRequested = false;
      keep = meta ?? null;
      keepFailed = false;
      try {
        const plan = pipeline.configure(settings);
        let kept = performance.now();
        let keepCost = 0;
        for (;;) {
          if (cancelRequested) {
            await keepRun('cancelled', progress);
            return { status: 'cancelled', plan, stages: pipeline.stages() };
          }
          const stage = pipeline.step();
          if (stage === undefined) break;
          const stages = pipeline.stages();
          progress({ ...describeStep(stage, stages), stage, stages });
          if (performance.now() - kept >= Math.max(KEEP_EVERY_MS, 10 * keepCost)) {
            const t0 = performance.now();
            await keepRun('running', progress);
            kept = performance.now();
            keepCost = kept - t0;
          }
          await yieldToMessages();
        }
        await keepRun('done', progress);
        return { status: 'done', plan, stages: pipeline.stages(), report: pipeline.reportJson() };
      } finally {
        running = false;
      }
    },

    async pipelineCancel() {
      cancelRequested = running;
      return { running };
    },

    async pipelineThresholds({ thresholds }) {
      if (running) throw new Error('wait for the run to finish before moving a threshold');
      const report = open().setClassThresholds(thresholds);
      await keepRun('done');
      return { report, stages: open().stages() };
    },

    async pipelineSaved() {
      return savedMeta(open().identity());
    },

    async pipelineResume() {
      const pipeline = open();
      const saved = await loadRun(pipeline.identity());
      if (!saved) throw new Error('this clip has no kept run');
      const plan = serial(() => pipeline.resume(saved.run, saved.tracker ?? undefined));
      return { plan: await plan, stages: pipeline.stages(), meta: saved.meta };
    },

    async pipelineForget() {
      await forgetRun(open().identity());
      return {};
    },

    async pipelineLabelled({ index }) {
      const pipeline = open();
      const rgba = pipeline.labelledFrame(index);
      if (!rgba) return null;
      const { width, height } = pipeline.frameSize();
      const image = new ImageData(new Uint8ClampedArray(rgba.buffer, rgba.byteOffset, rgba.byteLength), width, height);
      const bitmap = await createImageBitmap(image);
      return transfer({ bitmap }, [bitmap]);
    },

    async pipelineOntology({ text, name }) {
      await wasm();
      return JSON.parse(api().parseOntology(text, name));
    },

    async pipelineMatches({ index }) {
      return open().frameMatches(index) ?? null;
    },

    async pipelineVideoPlan() {
      const plan = open().videoPlan();
      if (!plan) throw new Error('no labelled frame yet: run the pipeline through the track stage first');
      return plan;
    },

    async pipelineQueue() {
      const pipeline = open();
      return { items: pipeline.reviewQueue(), ...pipeline.reviewState() };
    },

    async pipelineDecide({ edit }) {
      if (running) throw new Error('wait for the run to finish before reviewing its labels');
      const state = await serial(() => open().decide(JSON.stringify(edit)));
      await keepRun('done');
      return state;
    },

    async pipelineUndo({ label }) {
      if (running) throw new Error('wait for the run to finish before reviewing its labels');
      const state = open().undo(JSON.stringify(label));
      await keepRun('done');
      return state;
    },

    async pipelineReviewLoad({ text, name }) {
      if (running) throw new Error('wait for the run to finish before reviewing its labels');
      const state = await serial(() => open().loadReview(text, name));
      await keepRun('done');
      return state;
    },

    async pipelineFile({ name }) {
      const bytes = open().file(name);
      if (!bytes) throw new Error(`${name} is not made yet: run the pipeline to the end first`);
      return transfer({ bytes, warnings: open().exportWarnings() }, [bytes.buffer]);
    },
  };
}

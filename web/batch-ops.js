// The Batch mode's operations in a compute worker (web/worker.js): one
// BatchSession (web/src/batch.rs, over the core's pipeline::batch) holds the
// detector, the segmenter and the batch under way; these ops load models into
// it, run the batch one image a step with progress, cancel between two images
// and hand out the ZIP. What a step does is the core's; this file only loops
// and reports.
//
//   batchOpen     {}                            → {defaults: {ontology}}  (the seed ontology)
//   batchModel    {slot, source, name}          → {source, sha256, bytes, loadMs, ...}  (slot: detector | segmenter)
//   batchRun      {files: [File], settings}     → {status: done | cancelled, plan, done, total, report?, zip?}
//                 progress: {plan} once started (plan.resumed: images a cancelled batch had done),
//                           then {text, done, total, image: BatchImage, preview?: Uint8Array (JPEG)}
//   batchCancel   {}                            → {running}  (the batch stops after its current image)
//
// Images are read when the batch reaches them (web/page-files.js), so only
// the image being labelled is in the wasm heap.

import { syncReader } from './page-files.js';

/** Lets the worker read its message queue (a Cancel) between two images. */
const yieldToMessages = () => new Promise((resolve) => setTimeout(resolve, 0));

/**
 * The ops over one session. `deps`: {wasm() (loads the module), api() (its
 * exports), checkpointFiles(source, progress), serial(work) (one model call at
 * a time), transfer(result, objects) (a result whose buffers move, not copy)}.
 */
export function batchOps({ wasm, api, checkpointFiles, serial, transfer }) {
  let session = null;
  let running = false;
  let cancelRequested = false;

  const open = async () => {
    await wasm();
    session ??= new (api().BatchSession)();
    return session;
  };

  return {
    async batchOpen(_args, progress) {
      progress({ text: 'loading wasm…' });
      await open();
      return { defaults: { ontology: JSON.parse(api().seedOntology()) } };
    },

    async batchModel({ slot, source, name }, progress) {
      const batch = await open();
      const { config, weights, report } = await checkpointFiles(source, progress);
      progress({ text: `building the ${slot} (${name})…` });
      return serial(() => {
        const t0 = performance.now();
        if (slot === 'detector') batch.setDetector(config, weights, name);
        else if (slot === 'segmenter') batch.setSegmenter(config, weights, name);
        else throw new Error(`unknown model slot '${slot}'`);
        return { ...report, loadMs: performance.now() - t0 };
      });
    },

    async batchRun({ files, settings }, progress) {
      const batch = await open();
      if (running) throw new Error('the batch is already running');
      running = true;
      cancelRequested = false;
      try {
        const byName = new Map(files.map((f) => [f.name, f]));
        const plan = batch.start([...byName.keys()], syncReader(byName), settings);
        progress({ plan });
        for (;;) {
          if (cancelRequested) return { status: 'cancelled', plan, ...batch.progress() };
          const step = batch.step();
          if (step === undefined) break;
          const { done, total } = batch.progress();
          progress({ text: `${step.image.file} (${done}/${total})`, done, total, ...step });
          await yieldToMessages();
        }
        const counts = batch.progress();
        const { zip, report } = batch.finish();
        return transfer({ status: 'done', plan, ...counts, report, zip }, [zip.buffer]);
      } finally {
        running = false;
      }
    },

    async batchCancel() {
      cancelRequested = running;
      return { running };
    },
  };
}

// A video's frames for the core, in the pipeline worker. The core opens the
// MP4 itself (crate/src/data/mp4.rs: the index, the seek points, the colour
// conversion are the CLI's); the pixels are decoded by the browser's
// WebCodecs decoder, which is asynchronous, while the core asks for a frame
// synchronously in the middle of a stage. So the decoder runs in a worker of
// its own (web/video-decoder.js) and this thread waits for each frame on a
// SharedArrayBuffer (Atomics.wait, allowed in a worker): the page must be
// cross-origin isolated, as web/serve.py serves it.
//
// The core (web/src/video.rs) calls `start(setup)` once with the track's
// DecoderSetup, then `frame(index, seek)` for each frame it decodes; a frame
// that fails throws with the decoder's reason, and the run skips that frame.

// The control block, Int32 slots: the state, then the answer.
const STATE = 0; // PENDING until the decoder worker answers, then READY
const PENDING = 0;
const READY = 1;
const STATUS = 1; // OK, or FAILED with the reason's UTF-8 in the data buffer
const FAILED = 1;
const LENGTH = 2;
const WIDTH = 3;
const HEIGHT = 4;
const FORMAT = 5; // index into FORMATS
const PLANES = 6; // offset, stride of each plane (3 slots each way at most)
const CONTROL_SLOTS = PLANES + 6;
export const FORMATS = ['I420', 'NV12'];
// Decoding from a seek point far back is the slowest answer: a minute is a hung decoder.
const ANSWER_TIMEOUT_MS = 60_000;

export const controlLayout = { STATE, PENDING, READY, STATUS, FAILED, LENGTH, WIDTH, HEIGHT, FORMAT, PLANES };

/** Why this browser cannot open a video in the pipeline, or null. */
export function videoUnsupported() {
  if (typeof SharedArrayBuffer !== 'function' || !self.crossOriginIsolated) {
    return 'the page is not cross-origin isolated, so the pipeline cannot wait for the browser\'s video decoder ' +
      '(serve the page with web/serve.py, or drop a folder of its frames: `ffmpeg -i VIDEO frames/%05d.jpg`)';
  }
  if (typeof VideoDecoder !== 'function') return 'this browser has no WebCodecs video decoder';
  return null;
}

export class VideoBridge {
  /** A bridge to a fresh decoder worker reading `file`, once the worker is up. */
  static async open(file) {
    const why = videoUnsupported();
    if (why) throw new Error(`${file.name}: ${why}`);
    const worker = new Worker(new URL('./video-decoder.js', import.meta.url), { type: 'module' });
    await new Promise((resolve, reject) => {
      worker.onmessage = () => resolve();
      worker.onerror = (e) => reject(new Error(`the video decoder worker did not start: ${e.message}`));
      worker.postMessage({ file });
    });
    worker.onmessage = null;
    return new VideoBridge(worker);
  }

  constructor(worker) {
    this.worker = worker;
    this.control = null;
    this.data = null;
  }

  /** Called by the core with the track's DecoderSetup: sizes the shared buffers, configures the decoder. */
  start(setup) {
    this.control = new Int32Array(new SharedArrayBuffer(CONTROL_SLOTS * 4));
    // An I420 or NV12 picture is 1.5 bytes a pixel; coded sizes round up to macroblocks.
    const bytes = Math.ceil(((setup.width + 32) * (setup.height + 32) * 3) / 2) + 4096;
    this.data = new SharedArrayBuffer(bytes);
    this.worker.postMessage({ setup, control: this.control.buffer, data: this.data });
  }

  /** Frame `index` (seek point `seek`): {width, height, format, layout: [{offset, stride}], data}. */
  frame(index, seek) {
    const control = this.control;
    Atomics.store(control, STATE, PENDING);
    this.worker.postMessage({ frame: index, seek });
    if (Atomics.wait(control, STATE, PENDING, ANSWER_TIMEOUT_MS) === 'timed-out') {
      throw new Error(`the browser's video decoder gave no frame ${index} within ${ANSWER_TIMEOUT_MS / 1000} s`);
    }
    const bytes = new Uint8Array(this.data, 0, control[LENGTH]).slice();
    if (control[STATUS] === FAILED) throw new Error(new TextDecoder().decode(bytes));
    const planes = control[FORMAT] === 0 ? 3 : 2;
    const layout = Array.from({ length: planes }, (_, p) => ({
      offset: control[PLANES + p],
      stride: control[PLANES + 3 + p],
    }));
    return { width: control[WIDTH], height: control[HEIGHT], format: FORMATS[control[FORMAT]], layout, data: bytes };
  }

  close() {
    this.worker.terminate();
  }
}

// Video files decoded by the browser: a detached <video> element is seeked to
// each sampled time and the shown frame copied into an ImageBitmap. Decoding
// runs in the browser's media pipeline; this thread only awaits `seeked`, so
// the page stays responsive. Frames are read on demand, one seek at a time.
//
// Two ways a seek can show the wrong frame, both caught with WebCodecs, whose
// VideoFrame carries the shown frame's own timestamp and duration:
// - right after `seeked` the element may still show an earlier frame (for
//   long on a busy machine, when it is the frame captured before): capture
//   again until the shown frame's time span covers the target;
// - a file cut short after its header still seeks "successfully" and keeps
//   showing the last frame it could decode: a frame far before the target.

import { ComputeWorker } from './compute.js';
import { CancelledError, InputError } from './errors.js';
import { videoUnsupported } from './video-bridge.js';

const VIDEO_EXTENSIONS = ['mp4', 'm4v', 'mov', 'webm', 'mkv', 'ogv'];
const METADATA_TIMEOUT_MS = 20_000;
const SEEK_TIMEOUT_MS = 15_000;
// Seek a hair past each sample time, so float rounding never lands on the frame before.
const SEEK_NUDGE_S = 1e-3;
// A seeked element may show a neighbour for a while on a busy machine: retry for about a second.
const CAPTURE_ATTEMPTS = 40;
const CAPTURE_RETRY_MS = 25;
// How long the element may keep showing the frame captured before this seek (a busy machine).
const STALE_WAIT_MS = 5_000;
// Without a frame duration to check, the shown frame may start at most this long before the target.
const MAX_FRAME_GAP_S = 1;
const HAS_WEBCODECS = typeof VideoFrame === 'function';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const extension = (name) => name.slice(name.lastIndexOf('.') + 1).toLowerCase();

export const isVideoFile = (file) => file.type.startsWith('video/') || VIDEO_EXTENSIONS.includes(extension(file.name));

const MEDIA_ERRORS = {
  1: 'MEDIA_ERR_ABORTED',
  2: 'MEDIA_ERR_NETWORK',
  3: 'MEDIA_ERR_DECODE',
  4: 'MEDIA_ERR_SRC_NOT_SUPPORTED',
};

function mediaErrorText(video) {
  const error = video.error;
  if (!error) return 'unknown media error';
  const code = MEDIA_ERRORS[error.code] ?? `media error ${error.code}`;
  return error.message ? `${code}: ${error.message}` : code;
}

/** Resolves on `ok`, rejects on the element's `error`, a timeout or the abort signal. */
function awaitMedia(video, ok, { timeoutMs, signal, timeoutMessage }) {
  return new Promise((resolve, reject) => {
    const finish = (settle) => {
      clearTimeout(timer);
      video.removeEventListener(ok, onOk);
      video.removeEventListener('error', onError);
      signal?.removeEventListener('abort', onAbort);
      settle();
    };
    const onOk = () => finish(resolve);
    const onError = () => finish(() => reject(Object.assign(new Error(mediaErrorText(video)), { media: video.error })));
    const onAbort = () => finish(() => reject(signal.reason));
    const timer = setTimeout(() => finish(() => reject(new Error(timeoutMessage))), timeoutMs);
    video.addEventListener(ok, onOk);
    video.addEventListener('error', onError);
    signal?.addEventListener('abort', onAbort);
  });
}

/** Streams without a duration in their header (MediaRecorder WebM) learn it after a seek to the end. */
async function finiteDuration(video, signal) {
  if (Number.isFinite(video.duration)) return video.duration;
  const changed = awaitMedia(video, 'durationchange', {
    timeoutMs: METADATA_TIMEOUT_MS,
    signal,
    timeoutMessage: 'the video does not state its duration',
  });
  video.currentTime = Number.MAX_SAFE_INTEGER;
  await changed;
  return video.duration;
}

/** One seek at a time over a video element; `read(t)` → ImageBitmap of the frame shown at `t`. */
class FrameReader {
  constructor(video, duration) {
    this.video = video;
    this.lastTime = Math.max(0, duration - SEEK_NUDGE_S);
    this.queue = Promise.resolve();
    this.shownStart = null; // the start time of the frame captured last
  }

  read(seconds) {
    const run = () => this.seekAndCapture(Math.min(seconds + SEEK_NUDGE_S, this.lastTime));
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => {});
    return result;
  }

  async seekAndCapture(t) {
    const seeked = awaitMedia(this.video, 'seeked', {
      timeoutMs: SEEK_TIMEOUT_MS,
      timeoutMessage: `no frame after ${SEEK_TIMEOUT_MS / 1000} s`,
    });
    this.video.currentTime = t;
    await seeked;
    return HAS_WEBCODECS ? this.captureFrameAt(t) : createImageBitmap(this.video);
  }

  /** Captures the shown frame once it is the one at `t` (see the top of this file). */
  async captureFrameAt(t) {
    const staleUntil = performance.now() + STALE_WAIT_MS;
    const tUs = Math.round(t * 1e6);
    for (let attempt = 1; ; attempt += 1) {
      const frame = new VideoFrame(this.video);
      try {
        const start = frame.timestamp / 1e6;
        // In whole microseconds, as the frame states them: a float end with slack let the frame
        // before the target pass for it (1.8 + 0.1 + 0.001 > 1.9 + 0.001).
        const spans = frame.duration ? frame.timestamp <= tUs && tUs < frame.timestamp + frame.duration : false;
        // Still the frame captured before: the new one has not been shown yet.
        const stale = !spans && start === this.shownStart && performance.now() < staleUntil;
        const settled = !stale && (attempt >= CAPTURE_ATTEMPTS || !frame.duration);
        if (spans || (settled && start <= t && t - start <= MAX_FRAME_GAP_S)) {
          this.shownStart = start;
          return await createImageBitmap(frame);
        }
        if (settled) {
          throw new Error(
            `no frame decodes at ${t.toFixed(2)} s (the video still shows the one at ${start.toFixed(2)} s)`,
          );
        }
      } finally {
        frame.close();
      }
      await sleep(CAPTURE_RETRY_MS);
    }
  }
}

/**
 * The core's index of an MP4 (web/src/video.rs → videoIndex: its frames as
 * `autolabel run --clip` numbers them), read in a short-lived worker, or the
 * core's reason it cannot read the file: {index} | {refusal}.
 */
async function coreIndex(file, maxFrames, signal) {
  const worker = new ComputeWorker();
  const stop = () => worker.terminate();
  signal?.addEventListener('abort', stop);
  try {
    return { index: await worker.call('videoIndex', { file, maxFrames }) };
  } catch (e) {
    if (signal?.aborted) throw new CancelledError();
    return { refusal: e.message };
  } finally {
    signal?.removeEventListener('abort', stop);
    worker.terminate();
  }
}

/** The clip's `pipelineSource`, or its `pipelineRefusal`: why the pipeline cannot take the video here. */
function pipelineAccess(file, index, refusal, maxFrames) {
  if (!index) {
    return {
      pipelineRefusal:
        `The pipeline reads H.264 MP4 videos, and not this one: ${refusal}. Convert it ` +
        '(`ffmpeg -i VIDEO -c:v libx264 -pix_fmt yuv420p clip.mp4`), or drop a folder of its frames ' +
        '(`ffmpeg -i VIDEO frames/%05d.jpg`).',
    };
  }
  const why = videoUnsupported();
  if (why) return { pipelineRefusal: `The pipeline cannot decode this video here: ${why}.` };
  return { pipelineSource: async () => ({ kind: 'video', file, maxFrames }) };
}

/** How many frames `fps` sampling of `duration` seconds gives, capped at `maxFrames`. */
const sampledFrameCount = (duration, fps, maxFrames) =>
  Math.max(1, Math.min(maxFrames, Math.floor(duration * fps + 1e-6)));

/**
 * Opens a video file as a clip. An MP4 the core reads (H.264) has the core's
 * frames — every frame of the file, at most `maxFrames`, frame `i` what
 * `autolabel run --clip` calls frame `i` — and can go to the pipeline; any
 * other video is sampled at `fps` (at most `maxFrames` frames) for the
 * panels, and `pipelineRefusal` says why the pipeline cannot take it.
 * Checks that the first and the last frames decode, so a damaged or
 * truncated file fails here with a message naming it, not halfway through.
 */
export async function openVideo(file, { fps, maxFrames, signal, onProgress }) {
  if (!isVideoFile(file)) {
    throw new InputError(
      `'${file.name}' is not a video (${file.type || 'unknown type'}): drop an MP4, WebM or MOV file, ` +
        'a folder of frames or a nuScenes folder.',
    );
  }
  const url = URL.createObjectURL(file);
  const video = document.createElement('video');
  video.muted = true;
  video.playsInline = true;
  video.preload = 'auto';
  const close = () => {
    video.removeAttribute('src');
    video.load();
    URL.revokeObjectURL(url);
  };
  try {
    onProgress({ text: `reading ${file.name}…` });
    const loaded = awaitMedia(video, 'loadeddata', {
      timeoutMs: METADATA_TIMEOUT_MS,
      signal,
      timeoutMessage: `no video data after ${METADATA_TIMEOUT_MS / 1000} s`,
    });
    video.src = url;
    await loaded.catch((e) => {
      throw cannotOpen(file, e);
    });
    if (!video.videoWidth) throw new InputError(`'${file.name}' has no video track.`);
    const duration = await finiteDuration(video, signal);
    onProgress({ text: `indexing ${file.name}…` });
    const { index, refusal } = await coreIndex(file, maxFrames, signal);
    const count = index ? index.frames.length : sampledFrameCount(duration, fps, maxFrames);
    const reader = new FrameReader(video, duration);
    const timeOf = index ? (i) => index.frames[i].timestamp_us / 1e6 : (i) => i / fps;
    onProgress({ text: `checking that ${file.name} decodes to its end…` });
    await Promise.all([reader.read(0), reader.read(timeOf(count - 1))]).then(
      (bitmaps) => bitmaps.forEach((b) => b.close()),
      (e) => {
        throw new InputError(
          `'${file.name}' is truncated or damaged: its frame at ${timeOf(count - 1).toFixed(2)} s ` +
            `(of ${duration.toFixed(2)} s) does not decode (${e.message}).`,
        );
      },
    );
    signal?.throwIfAborted();
    return {
      kind: 'video',
      name: file.name,
      title: index
        ? `${file.name} · ${duration.toFixed(2)} s, ${count} frames`
        : `${file.name} · ${duration.toFixed(2)} s at ${fps} fps`,
      width: video.videoWidth,
      height: video.videoHeight,
      frames:
        index?.frames ??
        Array.from({ length: count }, (_, i) => ({
          index: i,
          timestamp_us: Math.round(timeOf(i) * 1e6),
          name: `${file.name} @ ${timeOf(i).toFixed(3)} s`,
          is_key_frame: false,
        })),
      groundTruth: [],
      cheapFrames: true,
      frame: async (index) => {
        const t0 = performance.now();
        const bitmap = await reader.read(timeOf(index));
        return { bitmap, ms: performance.now() - t0 };
      },
      ...pipelineAccess(file, index, refusal, maxFrames),
      close,
    };
  } catch (e) {
    close();
    throw e;
  }
}

function cannotOpen(file, error) {
  if (error instanceof CancelledError) return error;
  if (error.media?.code === MediaError.MEDIA_ERR_DECODE) {
    return new InputError(`'${file.name}' is truncated or damaged: its video data does not decode (${error.message}).`);
  }
  return new InputError(
    `'${file.name}' cannot be opened as a video (${error.message}). The file may be truncated or damaged, ` +
      'or use a codec this browser cannot decode.',
  );
}

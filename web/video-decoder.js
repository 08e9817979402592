// The pipeline's video decoder: a worker that owns a WebCodecs VideoDecoder
// and answers web/video-bridge.js, whose thread waits on a SharedArrayBuffer
// while this one decodes. What to decode is the core's (the track's samples,
// their frames and seek points, from crate/src/data/mp4.rs); this file feeds
// the samples and hands the pictures back, as OpenH264's cursor does natively
// (crate/src/data/video.rs): sequential frames keep the running decoder,
// anything else restarts at the frame's seek point.
//
// Messages in: {file} (answered {ready}) · {setup, control, data} · {frame, seek}

import { FORMATS, controlLayout as C } from './video-bridge.js';

let file = null;
let setup = null;
let control = null;
let data = null;
let cursor = null;

/** A decoder fed from seek point `seek`, and the pictures it has put out that are still wanted. */
function startCursor(seek) {
  const pictures = new Map(); // frame → VideoFrame
  const state = { pictures, nextSample: seek, shownUpTo: seek - 1, failure: null, wake: null, flushed: false };
  const wake = () => state.wake?.();
  state.decoder = new VideoDecoder({
    output(picture) {
      state.shownUpTo = Math.max(state.shownUpTo, picture.timestamp);
      pictures.set(picture.timestamp, picture);
      wake();
    },
    error(e) {
      state.failure = e;
      wake();
    },
  });
  state.decoder.ondequeue = wake;
  state.decoder.configure({
    codec: setup.codec,
    description: new Uint8Array(setup.description),
    codedWidth: setup.width,
    codedHeight: setup.height,
    hardwareAcceleration: 'prefer-software',
  });
  return state;
}

function closeCursor() {
  if (!cursor) return;
  for (const picture of cursor.pictures.values()) picture.close();
  if (cursor.decoder.state !== 'closed') cursor.decoder.close();
  cursor = null;
}

/** Feeds sample `s` (decode order; a chunk's timestamp is the frame it shows) and waits for the decoder to take it. */
async function feed(s) {
  const offset = setup.offsets[s];
  const bytes = new Uint8Array(await file.slice(offset, offset + setup.sizes[s]).arrayBuffer());
  if (bytes.length !== setup.sizes[s]) throw new Error(`sample ${s} is cut short: ${bytes.length} of ${setup.sizes[s]} bytes`);
  const taken = new Promise((resolve) => {
    cursor.wake = resolve;
    setTimeout(resolve, 100); // a dequeue event may be coalesced: never wait on it alone
  });
  cursor.decoder.decode(new EncodedVideoChunk({ type: setup.keys[s] ? 'key' : 'delta', timestamp: setup.frames[s], data: bytes }));
  await taken;
}

/** Frame `index` as a VideoFrame (owned by the caller), decoding from seek point `seek` if need be. */
async function decodeFrame(index, seek) {
  const usable = cursor && !cursor.failure && (cursor.pictures.has(index) || (cursor.shownUpTo < index && seek <= cursor.shownUpTo + 1));
  if (!usable) {
    closeCursor();
    cursor = startCursor(seek);
  }
  for (const [frame, picture] of cursor.pictures) {
    if (frame < index) {
      picture.close();
      cursor.pictures.delete(frame);
    }
  }
  while (!cursor.pictures.has(index)) {
    if (cursor.failure) throw new Error(`the browser's decoder failed: ${cursor.failure.message}`);
    if (cursor.nextSample < setup.offsets.length) {
      await feed(cursor.nextSample++);
    } else if (!cursor.flushed) {
      cursor.flushed = true;
      await cursor.decoder.flush().catch((e) => {
        cursor.failure ??= e;
      });
    } else {
      throw new Error(`the decoder emitted no picture for frame ${index}`);
    }
  }
  const picture = cursor.pictures.get(index);
  cursor.pictures.delete(index);
  return picture;
}

/** Writes `picture`'s planes into the shared buffer and describes them in the control block. */
async function answerPicture(picture) {
  const format = FORMATS.indexOf(picture.format === 'I420A' ? 'I420' : picture.format);
  if (format < 0) throw new Error(`the browser decoded the frame as ${picture.format ?? 'an opaque'} picture, not I420 or NV12`);
  const size = picture.allocationSize();
  if (size > data.byteLength) throw new Error(`the decoded frame takes ${size} bytes, more than the ${data.byteLength} set aside`);
  const pixels = new Uint8Array(size);
  const layout = await picture.copyTo(pixels);
  new Uint8Array(data).set(pixels);
  control[C.WIDTH] = picture.visibleRect.width;
  control[C.HEIGHT] = picture.visibleRect.height;
  control[C.FORMAT] = format;
  layout.slice(0, 3).forEach(({ offset, stride }, p) => {
    control[C.PLANES + p] = offset;
    control[C.PLANES + 3 + p] = stride;
  });
  control[C.STATUS] = 0;
  control[C.LENGTH] = size;
}

function answerFailure(error) {
  const message = new TextEncoder().encode(String(error?.message ?? error)).slice(0, data.byteLength);
  new Uint8Array(data).set(message);
  control[C.STATUS] = C.FAILED;
  control[C.LENGTH] = message.length;
}

async function answer(index, seek) {
  let picture = null;
  try {
    picture = await decodeFrame(index, seek);
    await answerPicture(picture);
  } catch (e) {
    closeCursor(); // the next frame starts a fresh decoder at its seek point
    answerFailure(e);
  } finally {
    picture?.close();
    Atomics.store(control, C.STATE, C.READY);
    Atomics.notify(control, C.STATE);
  }
}

self.onmessage = ({ data: message }) => {
  if (message.file) {
    file = message.file;
    self.postMessage({ ready: true });
  } else if (message.setup) {
    closeCursor();
    setup = message.setup;
    control = new Int32Array(message.control);
    data = message.data;
  } else {
    answer(message.frame, message.seek);
  }
};

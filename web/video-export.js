// The propagation video, encoded in the page: the labelled frames as the core
// drew them (web/src/pipeline.rs → Pipeline::labelled_frame), in order at the
// plan's rate (autolabel::pipeline::outputs::video_plan), through the
// browser's WebCodecs encoder — H.264 in MP4 where the browser can encode it,
// else VP9 in WebM — muxed by Mediabunny (web/vendor/README.md). Which codec
// the browser can encode is asked of it (VideoEncoder.isConfigSupported,
// through Mediabunny); nothing here encodes or muxes by itself.

import {
  BufferTarget,
  getFirstEncodableVideoCodec,
  Mp4OutputFormat,
  Output,
  QUALITY_HIGH,
  VideoSample,
  VideoSampleSource,
  WebMOutputFormat,
} from './vendor/mediabunny.min.mjs';

/** The codecs tried, best first, with the container each goes in. */
const CONTAINERS = {
  avc: { format: () => new Mp4OutputFormat(), name: 'propagation.mp4', mime: 'video/mp4', label: 'H.264 in MP4' },
  vp9: { format: () => new WebMOutputFormat(), name: 'propagation.webm', mime: 'video/webm', label: 'VP9 in WebM' },
};

/** The codec this browser encodes at `width`×`height`, with its container; an error naming what is missing. */
async function chooseCodec(width, height) {
  if (typeof VideoEncoder === 'undefined') {
    throw new Error('this browser has no WebCodecs video encoder (VideoEncoder); use `autolabel run` for the video');
  }
  const codec = await getFirstEncodableVideoCodec(Object.keys(CONTAINERS), { width, height });
  if (!codec) throw new Error(`this browser can encode neither H.264 nor VP9 at ${width}×${height}`);
  return { codec, ...CONTAINERS[codec] };
}

/**
 * Encodes `plan` ({frames, fps, width, height}); `frameAt(index)` resolves
 * with clip frame `index` drawn (an ImageBitmap, closed here), `progress(done,
 * total)` follows. Resolves with {bytes, name, mime, codec, label, frames}.
 */
export async function encodeVideo(plan, frameAt, progress) {
  const { frames, fps, width, height } = plan;
  const chosen = await chooseCodec(width, height);
  const output = new Output({ format: chosen.format(), target: new BufferTarget() });
  const source = new VideoSampleSource({ codec: chosen.codec, quality: QUALITY_HIGH });
  output.addVideoTrack(source, { frameRate: fps });
  await output.start();
  try {
    for (const [k, index] of frames.entries()) {
      const bitmap = await frameAt(index);
      const sample = new VideoSample(bitmap, { timestamp: k / fps, duration: 1 / fps });
      try {
        await source.add(sample);
      } finally {
        sample.close();
        bitmap.close();
      }
      progress(k + 1, frames.length);
    }
    await output.finalize();
  } catch (e) {
    await output.cancel();
    throw e;
  }
  const { codec, name, mime, label } = chosen;
  return { bytes: new Uint8Array(output.target.buffer), name, mime, codec, label, frames: frames.length };
}

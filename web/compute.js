// The page's side of a compute worker (web/worker.js): request/response by id,
// progress callbacks, and cancel by terminating the worker — the only way to
// stop wasm that is busy in a synchronous call.

import { CancelledError } from './errors.js';

export class ComputeWorker {
  /** `threads`: ask for the threaded CPU build (the worker falls back to the default one where it cannot run). */
  constructor({ threads = false } = {}) {
    this.pending = new Map();
    this.nextId = 1;
    this.failure = null;
    this.worker = new Worker(new URL(threads ? './worker.js?threads' : './worker.js', import.meta.url), { type: 'module' });
    this.worker.onmessage = ({ data }) => this.onMessage(data);
    this.worker.onerror = (e) => {
      e.preventDefault();
      this.fail(new Error(`the compute worker failed: ${e.message || 'it could not load (see the console)'}`));
    };
    this.worker.onmessageerror = () => this.fail(new Error('the compute worker sent an unreadable message'));
  }

  /**
   * Runs `op` in the worker; `onProgress({text, done, total})` reports along
   * the way; `transfer` lists objects of `args` to move rather than copy.
   */
  call(op, args = {}, { onProgress, transfer = [] } = {}) {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, onProgress });
      this.worker.postMessage({ id, op, ...args }, transfer);
    });
  }

  onMessage({ id, progress, result, error, panic }) {
    if (panic !== undefined) {
      this.fail(new Error(`wasm panicked: ${panic}`));
      return;
    }
    const request = this.pending.get(id);
    if (!request) return;
    if (progress) {
      request.onProgress?.(progress);
      return;
    }
    this.pending.delete(id);
    if (error !== undefined) request.reject(new Error(error));
    else request.resolve(result);
  }

  /** The worker is unusable from now on: every call, pending or future, fails with `error`. */
  fail(error) {
    this.failure ??= error;
    for (const { reject } of this.pending.values()) reject(this.failure);
    this.pending.clear();
  }

  /** Stops the worker at once; pending calls reject with a `CancelledError`. */
  terminate() {
    this.worker.terminate();
    this.fail(new CancelledError());
  }
}

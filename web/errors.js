// The two kinds of failure the page treats specially.

/** The user's input is unusable; the message says why and is shown as is. */
export class InputError extends Error {
  constructor(message) {
    super(message);
    this.name = 'InputError';
  }
}

/** The user cancelled the step; nothing to report. */
export class CancelledError extends Error {
  constructor() {
    super('cancelled');
    this.name = 'CancelledError';
  }
}

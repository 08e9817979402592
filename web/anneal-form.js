// The annealing form: iterative confidence annealing's settings (the core's
// `AnnealSettings`, docs/datasets.md) for a panel that detects — the Run
// panel and the Batch panel each hold one. The core checks the settings and
// its message is what the user sees; this file only builds the fields and
// reads them.

/** The fields, by the `AnnealSettings` key each one sets (ids are `${prefix}-${key}`). */
const FIELDS = [
  ['start', 'start', 'min="0" max="1" step="0.05" value="0.5"'],
  ['floor', 'floor', 'min="0" max="1" step="0.05" value="0.2"'],
  ['max', 'max passes', 'min="1" step="1" value="4"'],
];

const SCHEDULERS = ['stepwise', 'exponential', 'cosine'];

function numberField(prefix, key, label, attrs, hidden = false) {
  return `<label id="${prefix}-${key}-label"${hidden ? ' hidden' : ''}>${label} `
    + `<input id="${prefix}-${key}" type="number" ${attrs}></label>`;
}

/** The form's markup inside a `<details>`: the toggle, then the fields. */
function markup(toggleId, prefix) {
  const options = (values) => values.map((v) => `<option value="${v}">${v}</option>`).join('');
  return `<summary><label class="toggle"><input id="${toggleId}" type="checkbox"> annealing</label>
      <span class="muted small">passes at falling thresholds for classes still without labels</span></summary>
    <div class="anneal-grid">
      ${FIELDS.map(([key, label, attrs]) => numberField(prefix, key, label, attrs)).join('\n')}
      <label>scheduler <select id="${prefix}-scheduler">${options(SCHEDULERS)}</select></label>
      ${numberField(prefix, 'step', 'step', 'min="0" step="0.05" value="0.1"')}
      ${numberField(prefix, 'decay', 'decay', 'min="0" max="1" step="0.05" value="0.8"', true)}
      <label>merge <select id="${prefix}-merge"><option value="nms">NMS</option><option value="dbscan">DBSCAN</option></select></label>
      ${numberField(prefix, 'iou', 'IoU', 'min="0" max="1" step="0.05" value="0.5"')}
      ${numberField(prefix, 'eps', 'eps', 'min="0" max="1" step="0.05" value="0.5"', true)}
      ${numberField(prefix, 'min-samples', 'min samples', 'min="1" step="1" value="1"', true)}
    </div>`;
}

export class AnnealForm {
  /** Fills `box` (a `<details class="anneal">`); `toggleId` switches annealing on, fields are `${prefix}-…`. */
  constructor(box, toggleId, prefix) {
    box.innerHTML = markup(toggleId, prefix);
    this.toggle = document.getElementById(toggleId);
    this.field = (key) => document.getElementById(`${prefix}-${key}`);
    this.field('scheduler').addEventListener('change', () => this.showFields());
    this.field('merge').addEventListener('change', () => this.showFields());
    this.showFields();
  }

  /** Only the fields the chosen scheduler and merge read. */
  showFields() {
    const scheduler = this.field('scheduler').value;
    const merge = this.field('merge').value;
    const show = (key, shown) => { this.field(key).parentElement.hidden = !shown; };
    show('step', scheduler === 'stepwise');
    show('decay', scheduler === 'exponential');
    show('iou', merge === 'nms');
    show('eps', merge === 'dbscan');
    show('min-samples', merge === 'dbscan');
  }

  /** Shows `settings` (an `AnnealSettings` JSON, or null/undefined: annealing off); fields it leaves out stay empty. */
  set(settings) {
    this.toggle.checked = Boolean(settings);
    const put = (key, value) => { this.field(key).value = value ?? ''; };
    put('start', settings?.start);
    put('floor', settings?.floor);
    put('max', settings?.max_iterations);
    if (settings?.scheduler?.kind) this.field('scheduler').value = settings.scheduler.kind;
    put('step', settings?.scheduler?.step);
    put('decay', settings?.scheduler?.decay);
    if (settings?.merge?.kind) this.field('merge').value = settings.merge.kind;
    put('iou', settings?.merge?.iou);
    put('eps', settings?.merge?.eps);
    put('min-samples', settings?.merge?.min_samples);
    this.showFields();
  }

  /** The `AnnealSettings` JSON when annealing is on (empty fields left to the core's defaults), else undefined. */
  settings() {
    if (!this.toggle.checked) return undefined;
    const number = (key) => (this.field(key).value === '' ? undefined : this.field(key).valueAsNumber);
    const scheduler = this.field('scheduler').value;
    const merge = this.field('merge').value;
    const settings = {
      start: number('start'),
      floor: number('floor'),
      max_iterations: number('max'),
      scheduler: {
        kind: scheduler,
        ...(scheduler === 'stepwise' ? { step: number('step') } : {}),
        ...(scheduler === 'exponential' ? { decay: number('decay') } : {}),
      },
      merge: merge === 'nms'
        ? { kind: 'nms', iou: number('iou') }
        : { kind: 'dbscan', eps: number('eps'), min_samples: number('min-samples') },
    };
    return JSON.parse(JSON.stringify(settings)); // drops the empty (undefined) fields
  }
}

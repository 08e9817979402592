// The ontology editor: one row per class — its prompt phrases and its own box
// and text thresholds — as the core's `Ontology` (crate/src/pipeline/ontology.rs)
// reads it. Loading a JSON file replaces the rows only when the file parses;
// saving downloads the rows as `ontology.json` (what `autolabel run --ontology`
// takes). The core checks the ontology when a run is configured and names
// what is wrong; the rows stay as the user left them.

const escapeHtml = (s) =>
  String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

/** The phrases of a text field: comma-separated, blanks dropped. */
const phrasesOf = (text) =>
  text
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);

function row(cls) {
  const tr = document.createElement('tr');
  tr.dataset.class = cls.name;
  tr.innerHTML =
    `<td class="cls">${escapeHtml(cls.name)}</td>` +
    `<td><input type="text" class="phrases" value="${escapeHtml(cls.phrases.join(', '))}" spellcheck="false" ` +
    `aria-label="phrases of ${escapeHtml(cls.name)}"></td>` +
    `<td><input type="number" class="box" min="0" max="1" step="0.05" value="${cls.box_threshold}" ` +
    `aria-label="box threshold of ${escapeHtml(cls.name)}"></td>` +
    `<td><input type="number" class="text" min="0" max="1" step="0.05" value="${cls.text_threshold}" ` +
    `aria-label="text threshold of ${escapeHtml(cls.name)}"></td>` +
    `<td><button type="button" class="small-button remove" title="leave ${escapeHtml(cls.name)} out of the run" ` +
    `aria-label="remove ${escapeHtml(cls.name)}">×</button></td>`;
  tr.querySelector('.remove').addEventListener('click', () => tr.remove());
  return tr;
}

export class OntologyEditor {
  /** `tbody`: the rows' table body; `notify(kind, message)` reports a file that cannot be read. */
  constructor(tbody, notify) {
    this.tbody = tbody;
    this.notify = notify;
  }

  /** Shows `ontology` ({classes: [{name, phrases, box_threshold, text_threshold}]}). */
  set(ontology) {
    this.tbody.replaceChildren(...ontology.classes.map(row));
  }

  /** The rows as an ontology. */
  get() {
    const classes = [...this.tbody.querySelectorAll('tr')].map((tr) => ({
      name: tr.dataset.class,
      phrases: phrasesOf(tr.querySelector('.phrases').value),
      box_threshold: tr.querySelector('.box').valueAsNumber,
      text_threshold: tr.querySelector('.text').valueAsNumber,
    }));
    return { classes };
  }

  /** Each class's box threshold (the value its score slider starts at). */
  boxThresholds() {
    return Object.fromEntries(this.get().classes.map((c) => [c.name, c.box_threshold]));
  }

  /**
   * Replaces the rows with a dropped `ontology.json` or noun-chunk `.jsonl`,
   * read by the core (`parse(text, name)` resolves to the ontology with its defaults filled in, or
   * rejects naming what is wrong); a file that is not one changes nothing.
   */
  async load(file, parse) {
    try {
      this.set(await parse(await file.text(), file.name));
      return true;
    } catch (e) {
      this.notify('error', `${file.name}: ${e.message}; the ontology is unchanged.`);
      return false;
    }
  }

  /** Downloads the rows as `ontology.json`. */
  save() {
    const blob = new Blob([`${JSON.stringify(this.get(), null, 2)}\n`], { type: 'application/json' });
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = 'ontology.json';
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  }
}

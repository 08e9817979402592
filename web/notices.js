// The notices above the viewer: errors and warnings, each dismissable. The
// message lists live in the page state (`errors`, `warnings`) for the tests.

export class Notices {
  constructor(element, state) {
    this.element = element;
    this.state = state;
  }

  add(kind, message) {
    this.list(kind).push(message);
    if (kind === 'error') console.error(message);
    this.render();
  }

  clear() {
    this.state.errors = [];
    this.state.warnings = [];
    this.render();
  }

  list(kind) {
    return kind === 'error' ? this.state.errors : this.state.warnings;
  }

  render() {
    const items = [
      ...this.state.errors.map((text) => ({ kind: 'error', text })),
      ...this.state.warnings.map((text) => ({ kind: 'warning', text })),
    ];
    this.element.replaceChildren(...items.map((item) => this.notice(item)));
  }

  notice({ kind, text }) {
    const div = document.createElement('div');
    div.className = `notice ${kind}`;
    const p = document.createElement('p');
    p.textContent = text;
    const dismiss = document.createElement('button');
    dismiss.type = 'button';
    dismiss.className = 'dismiss';
    dismiss.setAttribute('aria-label', 'dismiss');
    dismiss.textContent = '×';
    dismiss.addEventListener('click', () => {
      const list = this.list(kind);
      list.splice(list.indexOf(text), 1);
      this.render();
    });
    div.append(p, dismiss);
    return div;
  }
}

// Offline use: registers the page's service worker (web/sw.js), which keeps
// the app shell so that a second visit works with no network, the models
// already cached by web/model-store.js. The header says where it stands:
// "offline ready" once the shell is cached, or why it is not.

const SW_URL = new URL('sw.js', import.meta.url);
const SCOPE = new URL('../', import.meta.url).pathname;

/** Registers web/sw.js; `state` = {status: 'unsupported' | 'installing' | 'ready' | 'unavailable', reason}. */
export async function registerOffline(state, show) {
  const set = (status, reason = null) => {
    Object.assign(state, { status, reason });
    show(state);
  };
  if (!('serviceWorker' in navigator)) {
    set('unsupported', 'this browser (or a page not served over http://localhost or https://) has no service workers');
    return;
  }
  set('installing');
  try {
    await navigator.serviceWorker.register(SW_URL, { scope: SCOPE });
    await navigator.serviceWorker.ready;
    set('ready');
  } catch (e) {
    set(
      'unavailable',
      `${e.message} — the server must send "Service-Worker-Allowed: /" with web/sw.js (web/serve.py does)`,
    );
  }
}

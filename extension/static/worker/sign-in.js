// Signing in and out from the popup. "Entrar" asks disca-host to start a
// sign-in (to the address typed once, or preset by IT through the managed
// storage); the host answers the backend's sign-in page, opened here in a
// tab; the host finishes the flow itself (RFC 8252: its loopback listener
// receives the code, its PKCE verifier never leaves it, the token goes to
// the OS keyring) and says `auth.signed_in` or `auth.sign_in_failed`.
// The token never passes through the extension.
import { ERROR_CODE, HOST_MESSAGE, REQUEST } from '../shared/protocol.js';

/** The sign-in part of the popup's state. */
export function initialSignIn() {
  return { pending: false, error: null, askAddress: false, tabId: null };
}

/**
 * @param {object} options
 * @param {object} options.state the popup's state (`signIn`, `presetBackendUrl`), changed in place
 * @param {{request: Function}} options.host
 * @param {typeof chrome.tabs} options.tabs
 * @param {chrome.storage.StorageArea | undefined} options.managed IT's policy settings
 * @param {() => void} options.publish
 * @param {() => Promise<void>} options.refresh re-reads the host's status
 */
export function createSignIn({ state, host, tabs, managed, publish, refresh }) {
  /** Reads the address IT preset (`backend_url` in the managed storage). */
  async function loadPreset() {
    if (!managed) return;
    try {
      const { backend_url: preset } = await managed.get('backend_url');
      const value = typeof preset === 'string' && preset.trim() ? preset.trim() : null;
      if (value !== state.presetBackendUrl) {
        state.presetBackendUrl = value;
        publish();
      }
    } catch {
      // No policy store on this platform: nothing preset.
    }
  }

  /** "Entrar": `typed` is the address the person typed, if any. */
  async function start(typed) {
    const backendUrl = state.presetBackendUrl || typed || null;
    state.signIn = { ...state.signIn, pending: true, error: null };
    publish();
    const request = { type: REQUEST.SIGN_IN };
    if (backendUrl) request.backend_url = backendUrl;
    const reply = await host.request(request);
    if (reply.type !== HOST_MESSAGE.SIGN_IN_STARTED) {
      const code = reply.error && reply.error.code;
      state.signIn = {
        ...state.signIn,
        pending: false,
        error: (reply.error && reply.error.message) || 'Não foi possível começar a entrada.',
        askAddress: code === ERROR_CODE.BACKEND_URL_REQUIRED || code === ERROR_CODE.INVALID_BACKEND_URL,
      };
      publish();
      return;
    }
    const tab = await tabs.create({ url: reply.authorize_url });
    state.signIn = { ...state.signIn, tabId: tab ? tab.id : null };
    publish();
  }

  /** "Sair". */
  async function signOut() {
    const reply = await host.request({ type: REQUEST.SIGN_OUT });
    if (reply.type !== HOST_MESSAGE.SIGNED_OUT) {
      state.signIn = { ...state.signIn, error: (reply.error && reply.error.message) || 'Não foi possível sair.' };
    }
    await refresh();
  }

  /** The end of a sign-in, pushed by the host; `true` if it was one. */
  function onHostMessage(message) {
    if (message.type === HOST_MESSAGE.SIGNED_IN) {
      const tabId = state.signIn.tabId;
      state.signIn = initialSignIn();
      // The sign-in tab now only says "pode fechar esta aba".
      if (tabId !== null) tabs.remove(tabId).catch(() => {});
      refresh();
      return true;
    }
    if (message.type === HOST_MESSAGE.SIGN_IN_FAILED) {
      state.signIn = { ...initialSignIn(), error: message.message };
      publish();
      return true;
    }
    return false;
  }

  return { loadPreset, start, signOut, onHostMessage };
}

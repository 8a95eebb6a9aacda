// The first-run page: obtains the microphone permission for the extension's
// origin (the softphone's offscreen document cannot prompt), then tells the
// worker, which makes the softphone's document again if it had been
// refused the microphone.
import { FROM_PAGE } from '../shared/page-messages.js';

const $ = (id) => document.getElementById(id);

const SAID = {
  granted: 'Pronto: o microfone está permitido. Pode fechar esta aba.',
  NotAllowedError:
    'O microfone foi bloqueado. Clique no ícone do cadeado na barra de endereços, permita o microfone e tente de novo.',
  NotFoundError: 'Nenhum microfone encontrado. Conecte um microfone ou fone com microfone e tente de novo.',
  other: 'Não foi possível usar o microfone. Tente de novo.',
};

function show(text, done) {
  $('result').textContent = text;
  $('allow').hidden = done;
}

async function allow() {
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    for (const track of stream.getTracks()) track.stop();
  } catch (error) {
    show(SAID[error && error.name] || SAID.other, false);
    return;
  }
  show(SAID.granted, true);
  chrome.runtime.sendMessage({ type: FROM_PAGE.MICROPHONE_GRANTED }).catch(() => {});
}

$('allow').addEventListener('click', allow);
navigator.permissions
  .query({ name: 'microphone' })
  .then((status) => {
    if (status.state === 'granted') show(SAID.granted, true);
  })
  .catch(() => {});

// The options page: Disca on or off, the default region, the sites it runs
// on (RD Station CRM and Marketing by default, and sites the user adds,
// each with the browser's own permission prompt). Changes apply to pages
// loaded after them. Also the browser phone's microphone and speaker
// (chrome.storage.local, this computer's devices; the worker passes them
// on to the softphone at once).
import { DEVICE_DEFAULTS } from '../shared/page-messages.js';
import { REGIONS, SITE_GROUPS, loadManagedSites, loadSettings, originPattern } from '../shared/settings.js';

const $ = (id) => document.getElementById(id);
let settings = await loadSettings();
let managedSites = await loadManagedSites();
// Policies can arrive after the page opened.
chrome.storage.onChanged.addListener(async (changes, area) => {
  if (area !== 'managed') return;
  managedSites = await loadManagedSites();
  render();
});

async function save(change) {
  settings = { ...settings, ...change };
  await chrome.storage.sync.set(settings);
  $('saved').textContent = 'Salvo. Vale para as páginas abertas a partir de agora.';
  render();
}

function render() {
  $('enabled').checked = settings.enabled;
  $('regions').replaceChildren(
    ...REGIONS.map((region) => {
      const label = document.createElement('label');
      const input = document.createElement('input');
      input.type = 'radio';
      input.name = 'region';
      input.value = region.code;
      input.checked = settings.region === region.code;
      input.addEventListener('change', () => save({ region: region.code }));
      label.append(input, ` ${region.label}`);
      return label;
    }),
  );
  $('groups').replaceChildren(
    ...SITE_GROUPS.map((group) => {
      const label = document.createElement('label');
      const input = document.createElement('input');
      input.type = 'checkbox';
      const managed = typeof managedSites[group.key] === 'boolean';
      input.checked = managed ? managedSites[group.key] : settings.sites[group.key] !== false;
      input.disabled = managed;
      input.addEventListener('change', () =>
        save({ sites: { ...settings.sites, [group.key]: input.checked } }),
      );
      label.append(input, ` ${group.label}${managed ? ' (definido pelo TI da empresa)' : ''}`);
      return label;
    }),
  );
  $('extra').replaceChildren(
    ...settings.extraSites.map((pattern) => {
      const item = document.createElement('li');
      const text = document.createElement('span');
      text.textContent = pattern;
      const remove = document.createElement('button');
      remove.type = 'button';
      remove.textContent = 'Remover';
      remove.addEventListener('click', async () => {
        await chrome.permissions.remove({ origins: [pattern] });
        save({ extraSites: settings.extraSites.filter((p) => p !== pattern) });
      });
      item.append(text, remove);
      return item;
    }),
  );
}

$('enabled').addEventListener('change', () => save({ enabled: $('enabled').checked }));
$('add').addEventListener('submit', async (event) => {
  event.preventDefault();
  const pattern = originPattern($('origin').value);
  $('add-error').hidden = true;
  if (!pattern) {
    $('add-error').textContent =
      'Endereço inválido: use um endereço https://, como https://exemplo.com.br';
    $('add-error').hidden = false;
    return;
  }
  const granted = await chrome.permissions.request({ origins: [pattern] });
  if (!granted) {
    $('add-error').textContent = 'Sem a permissão do navegador, o Disca não pode rodar nesse site.';
    $('add-error').hidden = false;
    return;
  }
  $('origin').value = '';
  if (!settings.extraSites.includes(pattern)) save({ extraSites: [...settings.extraSites, pattern] });
});

render();

/** The microphone and speaker lists, from the browser's devices. */
async function renderDevices() {
  const chosen = await chrome.storage.local.get(DEVICE_DEFAULTS);
  const devices = await navigator.mediaDevices.enumerateDevices().catch(() => []);
  // Without the microphone permission the devices have no names.
  $('devices-hint').hidden = devices.every((device) => device.label);
  for (const [key, kind, name] of [
    ['microphone', 'audioinput', 'Microfone'],
    ['speaker', 'audiooutput', 'Alto-falante'],
  ]) {
    const select = $(key);
    const system = new Option('Padrão do sistema', '');
    const options = devices
      .filter((device) => device.kind === kind && device.deviceId && device.deviceId !== 'default')
      .map((device, index) => new Option(device.label || `${name} ${index + 1}`, device.deviceId));
    select.replaceChildren(system, ...options);
    select.value = options.some((option) => option.value === chosen[key]) ? chosen[key] : '';
  }
}

for (const key of Object.keys(DEVICE_DEFAULTS)) {
  $(key).addEventListener('change', async () => {
    await chrome.storage.local.set({ [key]: $(key).value });
    $('saved').textContent = 'Salvo.';
  });
}
navigator.mediaDevices.addEventListener('devicechange', renderDevices);
renderDevices();

// ESLint's recommended rules for the extension's JavaScript: service worker
// and pages (browser globals and `chrome`), content scripts (classic
// scripts), unit tests (Node).
import js from '@eslint/js';
import globals from 'globals';

export default [
  { ignores: ['node_modules/'] },
  js.configs.recommended,
  {
    files: ['static/**/*.js'],
    languageOptions: {
      sourceType: 'module',
      globals: { ...globals.browser, ...globals.serviceworker, ...globals.webextensions },
    },
  },
  {
    files: ['static/content/*.js'],
    languageOptions: {
      sourceType: 'script',
      globals: { wasm_bindgen: 'readonly', discaMessages: 'readonly' },
    },
  },
  {
    files: ['test/**/*.js', 'eslint.config.js'],
    languageOptions: { sourceType: 'module', globals: globals.node },
  },
];

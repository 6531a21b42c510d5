import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'models/', 'bench/results/', 'coverage/', '.cache/', 'tmp/', '.bench-venv/', '**/*.py'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': ['error', { allow: ['error', 'warn'] }],
    },
  },
  {
    files: ['bench/**', 'tools/**', 'src/inference/cli.ts', 'test/**'],
    rules: { 'no-console': 'off' },
  },
  {
    // The web console runs in the browser, as plain JavaScript without a build step.
    files: ['src/console/public/**/*.js'],
    languageOptions: {
      globals: Object.fromEntries(
        ['window', 'document', 'sessionStorage', 'fetch', 'Headers', 'URL', 'URLSearchParams', 'FormData', 'XMLHttpRequest', 'AbortController', 'TextDecoderStream', 'setTimeout', 'setInterval', 'clearInterval', 'confirm', 'console'].map((name) => [name, 'readonly']),
      ),
    },
  },
);

import { defineConfig } from 'vite';

// `cairn serve --web-dir web/dist` serves the build at `/` and its files
// under `/assets`. `npm run watch` rebuilds on every change in `src/`, so a
// reload shows it without restarting the node.
export default defineConfig({
  build: { outDir: 'dist', assetsDir: 'assets', target: 'es2022', sourcemap: true },
  test: { include: ['test/**/*.test.ts'] },
});

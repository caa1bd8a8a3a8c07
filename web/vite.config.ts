import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

// `cairn serve --web-dir web/dist` serves the build at `/` and its files
// under `/assets`. `npm run watch` rebuilds on every change in `src/`, so a
// reload shows it without restarting the node.
export default defineConfig({
  // The page is built on the client package alone, from its sources.
  resolve: { alias: { '@cairn/client': fileURLToPath(new URL('./packages/client/src/index.ts', import.meta.url)) } },
  build: { outDir: 'dist', assetsDir: 'assets', target: 'es2022', sourcemap: true },
  test: { include: ['test/**/*.test.ts', 'packages/client/test/**/*.test.ts'] },
});

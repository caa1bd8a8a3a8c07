import { defineConfig } from 'vite';

// The in-browser benchmark page (bench/), built apart from the app.
export default defineConfig({
  root: 'bench',
  build: { outDir: '../dist-bench', emptyOutDir: true, target: 'es2022' },
});

import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';

// The console lives under /v1/awe/admin/-/ so that no page can shadow an
// API path under /v1/awe/admin (the GitLab convention for a reserved segment).
// Node's `process`, without pulling in @types/node for one line.
declare const process: { env: Record<string, string | undefined> };
const backend = process.env.AWE_URL ?? 'http://127.0.0.1:8080';

export default defineConfig({
  base: '/v1/awe/admin/-/',
  plugins: [react()],
  build: { outDir: 'dist', assetsDir: 'assets', sourcemap: false, chunkSizeWarningLimit: 600 },
  server: {
    port: 5173,
    proxy: { '^/v1/awe/(?!admin/-/).*': { target: backend, changeOrigin: false } },
  },
  test: { environment: 'jsdom', include: ['src/**/*.test.{ts,tsx}'] },
});

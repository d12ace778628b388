import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vite'
import vue from '@vitejs/plugin-vue'

const here = (p) => fileURLToPath(new URL(p, import.meta.url))

// Two pages: the lobby (index.html, served at /) and the room page
// (room.html, served by the server for every /{room}). The output is
// committed, so it must be byte-for-byte reproducible: content hashes only.
export default defineConfig({
  base: '/',
  plugins: [vue()],
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    emptyOutDir: true,
    sourcemap: false,
    target: 'es2022',
    rollupOptions: {
      input: {
        index: here('./index.html'),
        room: here('./room.html'),
      },
    },
  },
  server: {
    // `npm run dev` proxies the API and websocket to a local server.
    proxy: {
      '/api': 'http://127.0.0.1:6277',
      '/ws': { target: 'ws://127.0.0.1:6277', ws: true },
      '/docs': 'http://127.0.0.1:6277',
    },
  },
  test: {
    include: ['tests/**/*.test.js'],
    environment: 'node',
    // DOM tests never touch the network: happy-dom loads no scripts or styles.
    environmentOptions: {
      happyDOM: {
        settings: {
          disableJavaScriptFileLoading: true,
          disableJavaScriptEvaluation: true,
          disableCSSFileLoading: true,
          disableIframePageLoading: true,
          handleDisabledFileLoadingAsSuccess: true,
        },
      },
    },
  },
})

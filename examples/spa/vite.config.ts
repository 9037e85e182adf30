import { defineConfig } from "vite";

// `npm run dev` serves the app on its own origin (http://127.0.0.1:5173) and the app calls the
// gateway across origins: set VITE_GRAPHQL_URL (see README.md). `npm run build` writes dist/, which
// nginx (compose) or `nox -s up -- --spa` serve on the gateway's origin, where the default
// same-origin `/graphql` is right.
export default defineConfig({
  server: { host: "127.0.0.1", port: 5173, strictPort: true },
  build: { outDir: "dist", sourcemap: true },
});

import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// The project URL and publishable key come from the build env
// (VITE_SUPABASE_URL, VITE_SUPABASE_PUBLISHABLE_KEY): the same code serves
// the local stack and a hosted project.
export default defineConfig({
  plugins: [react()],
  build: { outDir: "dist", emptyOutDir: true, chunkSizeWarningLimit: 1024 },
});

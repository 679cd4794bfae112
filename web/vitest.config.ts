import { defineConfig } from "vitest/config";

// Unit tests of the app's pure parts (src/**/*.test.ts); the browser tests
// in tests/ run against a stack instead.
export default defineConfig({ test: { include: ["src/**/*.test.ts"] } });

import { context, type BuildContext } from 'esbuild';
import { fileURLToPath } from 'node:url';

// The page's script: app.ts with the SDK (from sdk/src, no build step), graphql-ws and graphql,
// bundled by esbuild. The context is incremental, so a rebuild per request is a few
// milliseconds and an edit to app.ts shows on the next reload.

const ENTRY = fileURLToPath(new URL('./app.ts', import.meta.url));

export type PageBundle = { build(): Promise<string>; dispose(): Promise<void> };

export function pageBundle(): PageBundle {
  let ctx: Promise<BuildContext> | undefined;
  const open = () =>
    (ctx ??= context({
      entryPoints: [ENTRY],
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      sourcemap: 'inline',
      // graphql checks NODE_ENV to pick its development checks; a browser has no process.
      define: { 'process.env.NODE_ENV': '"production"' },
      logLevel: 'silent',
    }));
  return {
    async build() {
      const result = await (await open()).rebuild();
      return result.outputFiles![0]!.text;
    },
    async dispose() {
      if (ctx) await (await ctx).dispose();
    },
  };
}

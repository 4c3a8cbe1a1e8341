/**
 * Property tests run with a fixed seed so CI is reproducible; explore new inputs locally with
 * `FC_SEED=<n> npx vitest run test/fuzz` (or FC_SEED=random). A failure prints its seed and path.
 */
import fc from 'fast-check';

const env = process.env['FC_SEED'];
if (env !== 'random') fc.configureGlobal({ seed: env ? Number(env) : 20_261_126 });

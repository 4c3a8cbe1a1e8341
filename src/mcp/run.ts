import type { Io } from '../cli/output.js';
export async function runMcp(_o: { config?: string }, _io: Io): Promise<number> {
  return Promise.resolve(1);
}

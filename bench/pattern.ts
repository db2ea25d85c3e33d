/** The bytes of the big bodies: one fixed pseudo-random 1 MiB block, repeated. */

/** Size of the repeated block. */
export const BLOCK_BYTES = 1024 * 1024;

/** The block (xorshift32 from a fixed seed, so every run and every process makes the same bytes). */
export function patternBlock(): Uint8Array {
  const block = new Uint8Array(BLOCK_BYTES);
  const words = new Uint32Array(block.buffer);
  let x = 0x9e3779b9;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
  return block;
}

/**
 * A Worker for tests/state_test.ts: counts 100 through the broker's store, tells the others so,
 * and once it has heard that another worker counted too, says hello (naming whom it heard).
 */
import { ThreadStore } from "../lib/state/mod.ts";

const scope = globalThis as unknown as {
  onmessage: ((event: MessageEvent<{ name: string; port: MessagePort }>) => void) | null;
};

scope.onmessage = async (event) => {
  const { name, port } = event.data;
  const store = new ThreadStore(port);
  const heard = new Promise<string>((resolve) => {
    store.subscribe("counted", (message) => {
      const from = (message as { from: string }).from;
      if (from !== name) resolve(from);
    });
  });
  await Promise.all(Array.from({ length: 100 }, () => store.increment("n:count", 60_000)));
  // Again every 50 ms until terminated: the other worker may subscribe after this one first said
  // so, or even after this one heard it.
  setInterval(() => void store.publish("counted", { from: name }), 50);
  await store.publish("counted", { from: name });
  const other = await heard;
  await store.publish("hello", { from: name, heard: other });
};

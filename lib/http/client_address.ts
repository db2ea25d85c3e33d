/**
 * The client's address behind trusted proxies (listen.trustedProxies): what the throttle and the
 * access log count and name. A request from a trusted peer (a load balancer) names its client in
 * one header, X-Forwarded-For (default) or RFC 7239 Forwarded (listen.clientAddressHeader); from
 * any other peer such headers are the client's own claims and are ignored.
 *
 * Only one header is read, never "whichever is present": a load balancer that sets one passes the
 * other on as the client sent it (HAProxy's `option forwardfor` and nginx's
 * `proxy_add_x_forwarded_for` leave Forwarded alone), so preferring the other would let any client
 * choose its address. This is nginx's `real_ip_header` with `real_ip_recursive on`: walking the
 * chain from the right (the hop nearest promgate), the first address that is not trusted is the
 * client; when every one is trusted, the leftmost. Anything in the chain that is not an IP address
 * (garbage, Forwarded's `unknown` or `_obfuscated` nodes) ends the walk at the peer itself: the
 * client is then the load balancer, which is what nginx does, and never a made-up value.
 */

/** Which header a trusted proxy names the client in (lower case). */
export type ClientAddressHeader = "x-forwarded-for" | "forwarded";

/** The listen settings the client address depends on. */
export interface ClientAddressSettings {
  /** IPv4/IPv6 addresses and CIDR blocks; absent or empty: no peer is trusted. */
  readonly trustedProxies?: readonly string[];
  /** Default: "x-forwarded-for". */
  readonly clientAddressHeader?: ClientAddressHeader;
}

/** An address as bytes (4 for IPv4, 16 for IPv6; IPv4-mapped IPv6 as its IPv4 form). */
type Bytes = Uint8Array;

/** An address block: the first `bits` bits of `bytes`. */
interface Block {
  readonly bytes: Bytes;
  readonly bits: number;
}

/** A set of address blocks, e.g. listen.trustedProxies. */
export class AddressBlocks {
  readonly #blocks: readonly Block[];

  /** Throws for an entry that is not an address or CIDR block (the config check refuses those). */
  constructor(entries: readonly string[]) {
    this.#blocks = entries.map((entry) => {
      const block = parseBlock(entry);
      if (!block) throw new Error(`${JSON.stringify(entry)} is not an IP address or CIDR block`);
      return block;
    });
  }

  get size(): number {
    return this.#blocks.length;
  }

  /** Whether `address` (text, as a peer or header gives it) lies in one of the blocks. */
  has(address: string): boolean {
    const bytes = parseIp(address);
    return bytes !== null && this.hasBytes(bytes);
  }

  hasBytes(bytes: Bytes): boolean {
    return this.#blocks.some((block) => inBlock(bytes, block));
  }
}

function inBlock(bytes: Bytes, block: Block): boolean {
  if (bytes.length !== block.bytes.length) return false;
  const whole = block.bits >> 3;
  for (let i = 0; i < whole; i++) if (bytes[i] !== block.bytes[i]) return false;
  const rest = block.bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (bytes[whole] & mask) === (block.bytes[whole] & mask);
}

/**
 * "10.0.0.0/8", "::1", "2001:db8::/32" as a block, or null. The prefix length must fit the
 * family (IPv4 0-32, IPv6 0-128); host bits may be set ("10.1.2.3/8" is 10.0.0.0/8).
 */
export function parseBlock(text: string): Block | null {
  const slash = text.indexOf("/");
  const bytes = parseIp(slash < 0 ? text : text.slice(0, slash));
  if (bytes === null) return null;
  if (slash < 0) return { bytes, bits: bytes.length * 8 };
  const prefix = text.slice(slash + 1);
  if (!/^(0|[1-9][0-9]{0,2})$/.test(prefix)) return null;
  let bits = Number(prefix);
  // An IPv4-mapped block ("::ffff:10.0.0.0/104") is stored as IPv4; its prefix shrinks by 96.
  if (bytes.length === 4 && text.includes(":")) bits -= 96;
  if (bits < 0 || bits > bytes.length * 8) return null;
  return { bytes, bits };
}

/**
 * An IP address in text as bytes, or null for anything else (no ports, brackets or zone ids).
 * IPv4 is four decimal numbers without leading zeros (some parsers read "010" as octal).
 */
export function parseIp(text: string): Bytes | null {
  if (text.length > 45) return null;
  return text.includes(":") ? parseIpv6(text) : parseIpv4(text);
}

function parseIpv4(text: string): Bytes | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(parts[i])) return null;
    const n = Number(parts[i]);
    if (n > 255) return null;
    out[i] = n;
  }
  return out;
}

function parseIpv6(text: string): Bytes | null {
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const words = (half: string): number[] | null => {
    if (half === "") return [];
    const out: number[] = [];
    const groups = half.split(":");
    for (let i = 0; i < groups.length; i++) {
      const g = groups[i];
      if (i === groups.length - 1 && g.includes(".")) {
        const v4 = parseIpv4(g);
        if (!v4) return null;
        out.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(g)) {
        out.push(parseInt(g, 16));
      } else return null;
    }
    return out;
  };
  const head = words(halves[0]);
  const tail = halves.length === 2 ? words(halves[1]) : [];
  if (!head || !tail) return null;
  // An embedded IPv4 address may only end the address.
  if (halves.length === 2 && halves[0].includes(".")) return null;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  const all = [...head, ...new Array(halves.length === 2 ? missing : 0).fill(0), ...tail];
  const bytes = new Uint8Array(16);
  all.forEach((w, i) => {
    bytes[2 * i] = w >> 8;
    bytes[2 * i + 1] = w & 0xff;
  });
  const mapped = bytes.subarray(0, 12).every((b, i) => b === (i < 10 ? 0 : 0xff));
  return mapped ? bytes.slice(12) : bytes;
}

/** Bytes from {@link parseIp} as text: dotted IPv4, or IPv6 as RFC 5952 writes it. */
export function formatIp(bytes: Bytes): string {
  if (bytes.length === 4) return bytes.join(".");
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((bytes[i] << 8) | bytes[i + 1]);
  // The longest run of two or more zero words (the first of equal ones) becomes "::".
  let best = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLength) [best, bestLength] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hex = (ws: number[]) => ws.map((w) => w.toString(16)).join(":");
  if (best < 0) return hex(words);
  return `${hex(words.slice(0, best))}::${hex(words.slice(best + bestLength))}`;
}

/**
 * One hop of X-Forwarded-For: an address, optionally with a port as some proxies add it
 * ("192.0.2.1:4711", "[2001:db8::1]:4711"), or null.
 */
function xffHop(text: string): Bytes | null {
  const hop = text.trim();
  if (hop.startsWith("[")) return bracketed(hop);
  const colon = hop.indexOf(":");
  if (colon >= 0 && hop.indexOf(":", colon + 1) < 0) {
    // One colon: IPv4 with a port.
    return PORT.test(hop.slice(colon + 1)) ? parseIpv4(hop.slice(0, colon)) : null;
  }
  return parseIp(hop);
}

const PORT = /^[0-9]{1,5}$/;

/** "[v6]" or "[v6]:port" as bytes, or null. */
function bracketed(text: string): Bytes | null {
  const close = text.indexOf("]");
  if (close < 0) return null;
  const rest = text.slice(close + 1);
  if (rest !== "" && !(rest.startsWith(":") && PORT.test(rest.slice(1)))) return null;
  const inner = text.slice(1, close);
  return inner.includes(":") ? parseIpv6(inner) : null;
}

/**
 * The `for=` node of each element of a Forwarded header (RFC 7239), left to right, quotes
 * removed; null for an element without exactly one `for`, or with a pair that is not valid
 * syntax (token "=" token-or-quoted-string).
 */
export function forwardedForNodes(value: string): (string | null)[] {
  return splitOutsideQuotes(value, ",").map((element) => {
    let node: string | null = null;
    let fors = 0;
    for (const pair of splitOutsideQuotes(element, ";")) {
      const m = PAIR.exec(pair);
      if (!m) return null;
      if (m[1].toLowerCase() !== "for") continue;
      node = m[3] !== undefined ? m[3].replace(/\\(.)/g, "$1") : m[2];
      fors++;
    }
    return fors === 1 ? node : null;
  });
}

const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+";
const PAIR = new RegExp(`^[ \\t]*(${TOKEN})=(?:(${TOKEN})|"((?:[^"\\\\]|\\\\.)*)")[ \\t]*$`);

/** `text` split at `separator` where it is not inside a quoted string. */
function splitOutsideQuotes(text: string, separator: string): string[] {
  const parts: string[] = [];
  let quoted = false;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted && c === "\\") i++;
    else if (c === '"') quoted = !quoted;
    else if (!quoted && c === separator) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts;
}

/** A Forwarded `for=` node as an address, or null (`unknown`, `_obfuscated`, garbage). */
function forwardedHop(node: string | null): Bytes | null {
  if (node === null) return null;
  if (node.startsWith("[")) return bracketed(node);
  const colon = node.indexOf(":");
  if (colon < 0) return parseIpv4(node);
  return PORT.test(node.slice(colon + 1)) ? parseIpv4(node.slice(0, colon)) : null;
}

/**
 * The hops a header names, left to right, and how to read one as an address (null where it
 * names none). Read lazily: the walk stops at the first untrusted hop, so a long chain a client
 * prepended costs a split, not a parse of every entry.
 */
function hopsOf(
  headers: Headers,
  header: ClientAddressHeader,
): { hops: (string | null)[]; read: (hop: string | null) => Bytes | null } | null {
  const value = headers.get(header);
  if (value === null || value.trim() === "") return null;
  return header === "forwarded"
    ? { hops: forwardedForNodes(value), read: forwardedHop }
    : { hops: value.split(","), read: (hop) => hop === null ? null : xffHop(hop) };
}

/**
 * The client's address for a request that came from `peer`: the peer itself unless it is
 * trusted, else what the trusted proxies' header says (see the module's comment). Always an IP
 * address in its canonical text form, or the peer as the server gave it.
 */
export function clientAddress(
  peer: string,
  headers: Headers,
  trusted: AddressBlocks,
  header: ClientAddressHeader = "x-forwarded-for",
): string {
  if (trusted.size === 0 || !trusted.has(peer)) return peer;
  const chain = hopsOf(headers, header);
  if (chain === null) return peer;
  let found: Bytes | null = null;
  for (let i = chain.hops.length - 1; i >= 0; i--) {
    found = chain.read(chain.hops[i]);
    if (found === null) return peer;
    if (!trusted.hasBytes(found)) break;
  }
  return found === null ? peer : formatIp(found);
}

/** Compiled settings per listen object: a config is immutable, so once per load. */
const compiled = new WeakMap<ClientAddressSettings, AddressBlocks>();

/** {@link clientAddress} with `listen`'s settings, compiled once per config. */
export function clientAddressFor(
  listen: ClientAddressSettings,
  peer: string,
  headers: Headers,
): string {
  const list = listen.trustedProxies;
  if (!list || list.length === 0) return peer;
  let blocks = compiled.get(listen);
  if (!blocks) {
    blocks = new AddressBlocks(list);
    compiled.set(listen, blocks);
  }
  return clientAddress(peer, headers, blocks, listen.clientAddressHeader);
}

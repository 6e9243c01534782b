import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { fromHex } from '../../lib/codec/buffer.js';

export interface GoldenPacket {
  direction: 'to-bmc' | 'to-console';
  bytes: Buffer;
  line: number;
}

/** Read a fixtures/packets/*.hex file: '>' console to BMC, '<' BMC to console, '#' comments. */
export function readGolden(name: string): GoldenPacket[] {
  const path = fileURLToPath(new URL(`../../fixtures/packets/${name}`, import.meta.url));
  const out: GoldenPacket[] = [];
  readFileSync(path, 'utf8')
    .split('\n')
    .forEach((text, i) => {
      const m = /^([<>])\s*([0-9a-fA-F\s]+)$/.exec(text.trim());
      if (m) out.push({ direction: m[1] === '>' ? 'to-bmc' : 'to-console', bytes: fromHex(m[2]!), line: i + 1 });
    });
  return out;
}

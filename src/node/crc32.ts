// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), the checksum zip and gzip use.
// Node 20's zlib has no crc32 (it arrived in Node 22), so this is the small table-driven kind.

const reflectedPolynomial = 0xedb88320;

/** crcTable[b] is the CRC of the single byte b: one lookup per byte instead of eight shifts. */
const crcTable = buildTable();

function buildTable(): Uint32Array {
  const table = new Uint32Array(256);
  for (let byte = 0; byte < 256; byte++) {
    let crc = byte;
    for (let bit = 0; bit < 8; bit++) {
      crc = crc & 1 ? (crc >>> 1) ^ reflectedPolynomial : crc >>> 1;
    }
    table[byte] = crc;
  }
  return table;
}

/** The CRC-32 of `bytes`, as an unsigned 32-bit integer. */
export function crc32(bytes: Uint8Array): number {
  return crc32Parts([bytes]);
}

/** The CRC-32 of the concatenation of `parts`, without concatenating them. */
export function crc32Parts(parts: readonly Uint8Array[]): number {
  let crc = 0xffffffff;
  for (const bytes of parts) {
    for (let i = 0; i < bytes.length; i++) {
      crc = crcTable[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
    }
  }
  return (crc ^ 0xffffffff) >>> 0;
}

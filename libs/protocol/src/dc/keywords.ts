/**
 * Field keywords. The nine historical ones keep the meanings Astron gives them and the bit values
 * Panda3D's legacy hash uses; a `.dc` file (or the TypeScript API) may declare more of its own.
 */

export const HISTORICAL_KEYWORDS = [
  "required",
  "broadcast",
  "ownrecv",
  "ram",
  "db",
  "clsend",
  "clrecv",
  "ownsend",
  "airecv",
] as const;

export type HistoricalKeyword = (typeof HISTORICAL_KEYWORDS)[number];

/** Bit flags of the historical keywords, for fast routing checks (`field.flags & KW.broadcast`). */
export const KW: Readonly<Record<HistoricalKeyword, number>> = {
  required: 0x0001,
  broadcast: 0x0002,
  ownrecv: 0x0004,
  ram: 0x0008,
  db: 0x0010,
  clsend: 0x0020,
  clrecv: 0x0040,
  ownsend: 0x0080,
  airecv: 0x0100,
};

export function isHistoricalKeyword(word: string): word is HistoricalKeyword {
  return (HISTORICAL_KEYWORDS as readonly string[]).includes(word);
}

/** The flags of the historical keywords in a list; custom keywords contribute nothing. */
export function keywordFlags(keywords: readonly string[]): number {
  let flags = 0;
  for (const word of keywords) if (isHistoricalKeyword(word)) flags |= KW[word];
  return flags;
}

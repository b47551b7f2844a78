/**
 * The small CSV layer shared by the steps: read a header + rows table as raw text, write one the
 * way pandas `to_csv(index=False)` does (Python float repr, NaN as an empty cell, '\n' line ends).
 */
import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import { readText } from './files.js';
import { csvFloat } from './pyfloat.js';

/** A parsed CSV: header names and the raw cell text of each data row. */
export interface CsvTable {
  columns: string[];
  rows: string[][];
}

interface ParsedRecord {
  record: string[];
  info: { lines: number };
}

/** Parses CSV text (header first); every error names `file` and, for a bad row, its line. */
export function parseCsv(text: string, file: string): CsvTable {
  let records: ParsedRecord[];
  try {
    records = parse(text, {
      bom: true,
      info: true,
      // Field counts are checked below so the message can say which line and what was expected.
      relax_column_count: true,
      skip_empty_lines: true,
      // Accept LF, CRLF and CR, even mixed within one file.
      record_delimiter: ['\r\n', '\n', '\r'],
    }) as ParsedRecord[];
  } catch (e) {
    throw new Error(`${file}: malformed CSV: ${(e as Error).message}`);
  }
  if (records.length === 0) throw new Error(`${file}: empty CSV file (no header line)`);
  const columns = records[0].record;
  const seen = new Set<string>();
  for (const c of columns) {
    if (seen.has(c)) throw new Error(`${file}: duplicate column "${c}" in the header`);
    seen.add(c);
  }
  const rows = records.slice(1).map(({ record, info }) => {
    if (record.length !== columns.length) {
      throw new Error(
        `${file}: line ${info.lines} has ${record.length} field(s), the header has ${columns.length}`,
      );
    }
    return record;
  });
  return { columns, rows };
}

/** Reads and parses a CSV file; `what` describes it in the error when it is missing. */
export async function readCsvFile(file: string, what: string): Promise<CsvTable> {
  return parseCsv(await readText(file, what), file);
}

/** A cell to write: numbers become Python float text, strings are written verbatim. */
export type Cell = string | number;

/** Formats a table like pandas `to_csv(index=False)` on Linux: quoting only where needed. */
export function toCsv(columns: string[], rows: Cell[][]): string {
  const records = [columns, ...rows.map((r) => r.map((c) => (typeof c === 'number' ? csvFloat(c) : c)))];
  return stringify(records, {
    record_delimiter: '\n',
    eof: true,
    // Python's csv module also quotes a lone CR, and a record made of one empty field.
    quoted_match: /\r/,
    quoted_empty: columns.length === 1,
  });
}

/**
 * Missing-value spellings that pandas' `read_csv` turns into NaN by default (pandas 1.x
 * `STR_NA_VALUES`); '' is the one ASDKit itself writes.
 */
const NA_VALUES = new Set([
  '', '#N/A', '#N/A N/A', '#NA', '-1.#IND', '-1.#QNAN', '-NaN', '-nan', '1.#IND', '1.#QNAN',
  '<NA>', 'N/A', 'NA', 'NULL', 'NaN', 'None', 'n/a', 'nan', 'null',
]);

// What pandas' tokenizer accepts as a decimal float (no hex, no '_', digits required).
const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const INFINITY = /^([+-]?)inf(?:inity)?$/i;
const POW10 = Array.from({ length: 309 }, (_, k) => Number(`1e${k}`));

/**
 * pandas' default float reader (`precise_xstrtod`, read_csv float_precision=None): it keeps only
 * the first 17 digits, counting leading zeros, then scales by a power of ten. That is not always
 * the nearest double (`0.47368421052631576` reads as `0.4736842105263157`), and ASDKit's table
 * step sees exactly those values. Returns undefined where pandas reports a range error.
 */
function pandasStrtod(s: string): number | undefined {
  const m = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(s)!;
  const digits = (m[2] ?? '') + (m[3] ?? '');
  let exponent = -(m[3] ?? '').length;
  let kept = digits;
  if (digits.length > 17) {
    const intLen = (m[2] ?? '').length;
    kept = digits.slice(0, 17);
    // Integer digits past the 17th raise the exponent; decimal ones are just dropped.
    exponent = Math.max(intLen - 17, 0) - Math.max(17 - intLen, 0);
  }
  let n = 0;
  for (const d of kept) n = n * 10 + (d.charCodeAt(0) - 48);
  if (m[1] === '-') n = -n;
  exponent += Number(m[4] ?? 0);
  if (exponent > 308) return undefined;
  if (exponent > 0) n *= POW10[exponent];
  else if (exponent < -616) n = 0;
  else if (exponent < -308) n = n / POW10[-308 - exponent] / POW10[308];
  else n /= POW10[-exponent];
  return Number.isFinite(n) ? n : undefined;
}

/**
 * Parses one cell as float64 the way pandas' read_csv does (missing-value spellings → NaN,
 * `inf`/`-inf`), or returns undefined when it is not a number.
 */
export function parseFloatCell(cell: string): number | undefined {
  const s = cell.trim();
  if (NA_VALUES.has(s)) return NaN;
  if (DECIMAL.test(s)) return pandasStrtod(s);
  const inf = INFINITY.exec(s);
  if (inf) return inf[1] === '-' ? -Infinity : Infinity;
  return undefined;
}

/** The float64 values of column `col`; missing cells are NaN, anything non-numeric is an error. */
export function numericColumn(t: CsvTable, col: string, file: string): Float64Array {
  const j = t.columns.indexOf(col);
  if (j < 0) throw new Error(`${file}: missing column "${col}" (columns: ${t.columns.join(', ')})`);
  const out = new Float64Array(t.rows.length);
  t.rows.forEach((row, i) => {
    const v = parseFloatCell(row[j]);
    if (v === undefined) {
      throw new Error(`${file}: column "${col}", data row ${i + 1}: "${row[j]}" is not a number`);
    }
    out[i] = v;
  });
  return out;
}
